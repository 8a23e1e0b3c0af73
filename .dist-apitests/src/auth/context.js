export function makeContext(fields) {
    const roles = (fields.roles ?? []).map((r) => r.trim().toLowerCase()).filter((r) => r !== '');
    return {
        requestId: fields.requestId,
        userId: fields.userId ?? null,
        projectId: fields.projectId ?? null,
        roles,
        // Glance's default `context_is_admin` rule is `role:admin`.
        isAdmin: roles.includes('admin'),
    };
}
//# sourceMappingURL=context.js.map