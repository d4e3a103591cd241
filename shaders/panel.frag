#version 330 core
// The panel's picture, stored as display (sRGB) colours. A target that encodes sRGB itself
// takes them as they are; one that the GL encodes wants them linear.

in vec2 v_uv;

uniform sampler2D u_picture;
uniform bool u_encode_srgb;

out vec4 f_color;

vec3 srgb_decode(vec3 c) {
    return mix(c / 12.92, pow((c + 0.055) / 1.055, vec3(2.4)), step(0.04045, c));
}

void main() {
    vec4 texel = texture(u_picture, v_uv);
    f_color = vec4(u_encode_srgb ? texel.rgb : srgb_decode(texel.rgb), texel.a);
}
