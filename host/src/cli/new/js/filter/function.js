// `{{name}}`: a `filter` function (Flink's FilterFunction): keeps the
// records for which it returns true, forwarded unchanged. This one keeps the
// clicks on pages under a prefix from the config, `{"prefix": "/products"}`.
import { filter } from 'eddy-sdk';

export default filter((ctx) => {
  // The operator's `config` (job.toml) as JSON, over these defaults.
  const { prefix } = ctx.configJsonOr({ prefix: '/products' });
  return (click) => click.page.startsWith(prefix);
});
