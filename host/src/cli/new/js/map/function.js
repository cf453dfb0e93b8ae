// `{{name}}`: a `map` function (Flink's MapFunction): one record in, one
// out. This one normalises each click's page: the query string dropped and
// the path in lower case.
import { map } from 'eddy-sdk';

// `open(ctx)` runs once per instance (ctx.config is the operator's config
// string, ctx.configJsonOr(defaults) the same parsed as JSON) and returns
// the per-record function. Records are JSON by default: the function gets
// the parsed value and returns the value to emit; a thrown error fails the
// task with its message.
export default map((ctx) => (click) => {
  const path = click.page.split('?')[0];
  return { ...click, page: path.toLowerCase() };
});
