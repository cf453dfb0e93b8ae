// `{{name}}`: a `co-process` function (Flink's KeyedCoProcessFunction): two
// inputs keyed the same way (here clicks and purchases by `user`) sharing
// state and timers. This one sums each user's activity per minute of event
// time and reports it when the watermark passes the minute.
import { coProcess } from 'eddy-sdk';

const MINUTE = 60_000;

export default coProcess((ctx) => {
  // Activity per minute start: { clicks, purchases, spent }.
  const minutes = ctx.mapState('minutes');

  function record(out, update) {
    const start = Math.floor(out.timestamp / MINUTE) * MINUTE;
    const activity = minutes.get(start) ?? { clicks: 0, purchases: 0, spent: 0 };
    update(activity);
    minutes.put(start, activity);
    out.registerEventTimeTimer(start + MINUTE - 1);
  }

  return {
    // A record of the first input (`input` in the job file).
    processElement1(click, out) {
      record(out, (a) => { a.clicks += 1; });
    },
    // A record of the second input (`connect`).
    processElement2(purchase, out) {
      record(out, (a) => {
        a.purchases += 1;
        a.spent += purchase.amount;
      });
    },
    onTimer(timestamp, domain, out) {
      const start = timestamp + 1 - MINUTE;
      const activity = minutes.get(start);
      if (activity === undefined) return;
      minutes.remove(start);
      out.emit({ user: out.keyStr(), start, ...activity });
    },
  };
});
