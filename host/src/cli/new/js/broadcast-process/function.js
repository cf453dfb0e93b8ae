// `{{name}}`: a `broadcast-process` function (Flink's
// KeyedBroadcastProcessFunction): keyed clicks (by `user`) plus a broadcast
// input of page labels that reaches every parallel instance. This one labels
// each click with its page's label; clicks of unlabelled pages go to the
// side output `unlabelled`. A click waits for the watermark (an event-time
// timer at its timestamp), so labels that arrive at the same time count.
import { broadcastProcess } from 'eddy-sdk';

export default broadcastProcess((ctx) => {
  // Page → label, the same in every instance; written by broadcast records only.
  const labels = ctx.broadcastMapState('labels');
  // Clicks of the current user waiting for the watermark, by timestamp.
  const waiting = ctx.mapState('waiting');
  const unlabelled = ctx.sideOutput('unlabelled');

  return {
    processElement(click, out) {
      const clicks = waiting.get(click.ts) ?? [];
      clicks.push(click);
      waiting.put(click.ts, clicks);
      out.registerEventTimeTimer(click.ts);
    },
    processBroadcastElement(label) {
      labels.put(label.page, label.label);
    },
    onTimer(timestamp, domain, out) {
      const clicks = waiting.get(timestamp);
      if (clicks === undefined) return;
      waiting.remove(timestamp);
      for (const click of clicks) {
        const label = labels.get(click.page);
        if (label === undefined) out.output(unlabelled, click);
        else out.emit({ ...click, label });
      }
    },
  };
});
