/**
 * The gateway as `npm start` runs it (createApp, production mode), in its own process,
 * configured from the environment the bench passes. SQL statements are counted only
 * between `count-start` and `count-stop`, and recorded (as sent, parameters in place)
 * only between `capture-start` and `capture-stop` (the scale profile explains them),
 * through MikroORM's onQuery hook: every statement the gateway sends passes through it,
 * whatever builds it.
 */
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { announce, statementCounter } from './child.js';

const app = await createApp(loadConfig(process.env));
const url = await app.listen(0);
const counter = statementCounter();
let captured: string[] | undefined;
const platform = app.orm.em.getPlatform();
const passThrough = (sql: string) => sql;
const hooked = (sql: string, params: readonly unknown[]) => {
  if (counter.active()) counter.record();
  captured?.push(platform.formatQuery(sql, params as unknown[]));
  return sql;
};

announce(url, (command) => {
  let answer: unknown;
  if (command === 'capture-start') captured = [];
  else if (command === 'capture-stop') {
    answer = captured;
    captured = undefined;
  } else answer = counter.handle(command);
  // The hook is only installed while counting or capturing, so the load runs see the gateway as it ships.
  app.orm.config.set('onQuery', counter.active() || captured ? hooked : passThrough);
  return answer;
});
