#version 330 core
// A flat, textured rectangle in the scene (the setup wizard's panel in the headset): a unit
// quad scaled to the panel's size in metres and placed by its world matrix.

in vec2 in_corner;            // (-0.5 .. 0.5, -0.5 .. 0.5)

uniform mat4 u_view_proj;
uniform mat4 u_model;         // world-from-panel
uniform vec2 u_size_m;        // width, height

out vec2 v_uv;

void main() {
    v_uv = vec2(in_corner.x + 0.5, 0.5 - in_corner.y);  // the picture's first row on top
    gl_Position = u_view_proj * u_model * vec4(in_corner * u_size_m, 0.0, 1.0);
}
