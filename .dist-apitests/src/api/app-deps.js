export {};
//# sourceMappingURL=app-deps.js.map