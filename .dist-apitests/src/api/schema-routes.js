export function schemaRoutes(deps) {
    return async (app) => {
        app.get('/v2/schemas/image', { config: { rejectBody: true } }, async () => deps.imageSchema);
        app.get('/v2/schemas/images', { config: { rejectBody: true } }, async () => deps.imagesSchema);
    };
}
//# sourceMappingURL=schema-routes.js.map