/**
 * The topic configuration every bench topic is created with: no time
 * retention. Bench records carry synthetic event times (2023), which a
 * broker's default 7-day retention deletes at its next check, rolling even
 * the active segment, so a bench could fill its topic and then wait for ever
 * for records already gone (docs/KAFKA.md, "Gotchas").
 */
export const KEPT_TOPIC_CONFIGS = [{ name: 'retention.ms', value: '-1' }];
