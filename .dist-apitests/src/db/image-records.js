export {};
//# sourceMappingURL=image-records.js.map