// A city system consuming Berdaya's events: its own queue for what happens from now on,
// the event history for what happened since a given time, each event handled once.
//
// Needs Node >= 18 and amqplib (`npm ci` here). Settings, from the environment:
//
//   AMQP_URL      amqp://city-integrations:PASSWORD@HOST:5672/berdaya
//   NAMESPACE     berdaya (the prefix of every exchange and queue name)
//   SYSTEM        this system's name, in its queue's name (default example-javascript)
//   EVENT_TYPES   routing keys to bind, comma-separated (default "#": every event)
//   SINCE         ISO 8601 time to read the history from (default: the first retained)
//   PROCESSED     file remembering the event_ids handled (default processed-javascript.txt)
//   STOP_AFTER    exit after handling this many events (default 0: run until stopped)
//
// It prints one line per event: `handled <event_id> <type> <occurred_at>`, or
// `duplicate <event_id>` when the same event came again (by the other road, or redelivered).
'use strict';

const fs = require('node:fs');
const amqp = require('amqplib');

const NAMESPACE = process.env.NAMESPACE || 'berdaya';
const SYSTEM = process.env.SYSTEM || 'example-javascript';
const EVENT_TYPES = (process.env.EVENT_TYPES || '#').split(',');
const SINCE = process.env.SINCE ? new Date(process.env.SINCE) : null;
const PROCESSED = process.env.PROCESSED || 'processed-javascript.txt';
const STOP_AFTER = Number(process.env.STOP_AFTER || '0');

// Each event once, by its event_id (the AMQP message_id too). A real system records the
// event_id in the same database transaction as the effect (a table with a unique key);
// this example appends it to a file after the effect.
const seen = new Set(
  fs.existsSync(PROCESSED) ? fs.readFileSync(PROCESSED, 'utf8').split(/\s+/).filter(Boolean) : [],
);
let handled = 0;

function apply(envelope) {
  // the system's own work goes here; `data` is the event's payload, `version` its schema
  // version (see docs/integrating.md, "Versions")
  console.log(`handled ${envelope.event_id} ${envelope.type} ${envelope.occurred_at}`);
}

function handlerFor(channel, connection) {
  return (message) => {
    if (message === null) return; // the broker cancelled the consumer
    let envelope;
    try {
      envelope = JSON.parse(message.content.toString('utf8'));
    } catch {
      channel.reject(message, false); // not an event: never requeued forever
      return;
    }
    if (SINCE !== null && new Date(envelope.occurred_at) < SINCE) {
      channel.ack(message); // the history starts at a chunk: earlier events may come
      return;
    }
    if (seen.has(envelope.event_id)) {
      console.log(`duplicate ${envelope.event_id}`);
    } else {
      apply(envelope);
      seen.add(envelope.event_id);
      fs.appendFileSync(PROCESSED, `${envelope.event_id}\n`);
      handled += 1;
    }
    channel.ack(message); // after the effect: a crash before it means a redelivery
    if (STOP_AFTER && handled >= STOP_AFTER) {
      connection.close().then(() => process.exit(0));
    }
  };
}

async function main() {
  const connection = await amqp.connect(process.env.AMQP_URL);
  const channel = await connection.createChannel();
  await channel.prefetch(50); // a stream consumer must set one
  const handle = handlerFor(channel, connection);
  // the queue first, then the history: nothing falls between the two, and what comes by
  // both roads is handled once (by event_id)
  const live = `${NAMESPACE}.city.${SYSTEM}.events`;
  await channel.assertQueue(live, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  for (const eventType of EVENT_TYPES) {
    await channel.bindQueue(live, `${NAMESPACE}.events`, eventType);
  }
  await channel.consume(live, handle, { noAck: false });
  const offset = SINCE === null ? 'first' : { '!': 'timestamp', value: Math.floor(SINCE / 1000) };
  await channel.consume(`${NAMESPACE}.events.history`, handle, {
    noAck: false,
    arguments: { 'x-stream-offset': offset },
  });
  console.log('ready');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
