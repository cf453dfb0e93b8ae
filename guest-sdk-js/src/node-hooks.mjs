// Node module hooks: resolve `eddy-sdk` (and `eddy-sdk/testing`) to this
// package from anywhere, so guest modules outside it (the repository's
// examples) load in the build and in tests without an npm install.
const INDEX = new URL('./index.js', import.meta.url).href;
const TESTING = new URL('./testing.js', import.meta.url).href;

export async function resolve(specifier, context, next) {
  if (specifier === 'eddy-sdk') return { url: INDEX, shortCircuit: true };
  if (specifier === 'eddy-sdk/testing') return { url: TESTING, shortCircuit: true };
  return next(specifier, context);
}
