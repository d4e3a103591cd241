#version 330 core
// Morphs, poses and projects one avatar part. Blendshape deltas live in float textures
// (one RGBA32F texel per target and vertex, rows wrapped at u_morph_width); only the
// targets the CPU found active are fetched, so a neutral face costs no texture reads.

const int MAX_ACTIVE = 52;
const int NUM_REGIONS = 6;

in vec3 in_position;
in vec3 in_normal;
in vec2 in_uv;
in float in_region;
in vec4 in_tangent;
in float in_head_weight;      // how much of the vertex follows the head (1 for a bust)

uniform sampler2D u_morph_positions;
uniform sampler2D u_morph_normals;
uniform int u_morph_width;
uniform int u_vertex_total;   // vertices of all parts: the stride between targets
uniform int u_base_vertex;    // this part's first vertex in the packed morph rows
uniform int u_active_count;
uniform int u_active_slot[MAX_ACTIVE];
uniform float u_active_weight[MAX_ACTIVE];

uniform mat4 u_model;         // head pose (and gaze for eyes), rigid; the body stays at rest
uniform mat4 u_view_proj;
uniform float u_outline_width;   // > 0 in MToon's outline pass: metres, or screen heights
uniform bool u_outline_screen;
uniform float u_viewport_aspect; // width / height, to keep screen outlines even
uniform float u_wrinkle[NUM_REGIONS];
uniform float u_flush[NUM_REGIONS];

out vec3 v_world_pos;
out vec3 v_world_normal;
out vec4 v_world_tangent;
out vec3 v_rest_pos;
out vec2 v_uv;
out vec3 v_wrinkle_a;  // regions 0..2, weighted; interpolated so region borders blend
out vec3 v_wrinkle_b;  // regions 3..5
out float v_flush;

ivec2 morph_texel(int slot) {
    int index = slot * u_vertex_total + u_base_vertex + gl_VertexID;
    return ivec2(index % u_morph_width, index / u_morph_width);
}

void region_weights(int region) {
    v_wrinkle_a = vec3(0.0);
    v_wrinkle_b = vec3(0.0);
    v_flush = 0.0;
    if (region < 0 || region >= NUM_REGIONS) return;
    float w = u_wrinkle[region];
    if (region < 3) v_wrinkle_a[region] = w; else v_wrinkle_b[region - 3] = w;
    v_flush = u_flush[region];
}

void main() {
    vec3 position = in_position;
    vec3 normal = in_normal;
    for (int i = 0; i < u_active_count; ++i) {
        ivec2 texel = morph_texel(u_active_slot[i]);
        position += u_active_weight[i] * texelFetch(u_morph_positions, texel, 0).xyz;
        normal += u_active_weight[i] * texelFetch(u_morph_normals, texel, 0).xyz;
    }
    // A neck vertex half on the head bone moves half way: linear blend skinning between
    // the rest pose and the head's pose.
    float w = clamp(in_head_weight, 0.0, 1.0);
    vec4 world = mix(vec4(position, 1.0), u_model * vec4(position, 1.0), w);
    mat3 rotation = mat3(u_model);
    v_world_pos = world.xyz;
    v_world_normal = mix(normal, rotation * normal, w);
    v_world_tangent = vec4(mix(in_tangent.xyz, rotation * in_tangent.xyz, w), in_tangent.w);
    v_rest_pos = in_position;
    v_uv = in_uv;
    region_weights(int(floor(in_region + 0.5)));
    vec3 outward = normalize(v_world_normal);
    if (u_outline_width > 0.0 && !u_outline_screen) world.xyz += outward * u_outline_width;
    gl_Position = u_view_proj * world;
    if (u_outline_width > 0.0 && u_outline_screen) {
        // Push along the normal as the screen sees it, by a share of the screen's height
        // (normalised device coordinates span 2); x is narrower by the aspect ratio.
        vec2 direction = (u_view_proj * vec4(outward, 0.0)).xy;
        if (dot(direction, direction) > 1e-12)
            gl_Position.xy += normalize(direction) * vec2(1.0 / u_viewport_aspect, 1.0)
                              * 2.0 * u_outline_width * gl_Position.w;
    }
}
