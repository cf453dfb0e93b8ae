// `{{name}}`: a `flat-map` function (Flink's FlatMapFunction): any number
// of records out per record in. This one emits one record per segment of
// the click's path: `/products/42` gives `products` and `42`.
import { flatMap } from 'eddy-sdk';

export default flatMap(() => (click, out) => {
  const path = click.page.split('?')[0];
  for (const segment of path.split('/')) {
    if (segment !== '') out.emit({ user: click.user, segment });
  }
});
