/**
 * The gateway as `npm start` runs it (createApp, production mode), in its own process,
 * configured from the environment the bench passes. SQL statements are counted only
 * between `count-start` and `count-stop`, through MikroORM's onQuery hook: every
 * statement the gateway sends passes through it, whatever builds it.
 */
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { announce, statementCounter } from './child.js';

const app = await createApp(loadConfig(process.env));
const url = await app.listen(0);
const counter = statementCounter();
const passThrough = (sql: string) => sql;
const counting = (sql: string) => {
  counter.record();
  return sql;
};

announce(url, (command) => {
  const answer = counter.handle(command);
  // The hook is only installed while counting, so the load runs see the gateway as it ships.
  app.orm.config.set('onQuery', counter.active() ? counting : passThrough);
  return answer;
});
