// @ts-check
import { Converter } from 'typedoc';
import { moduleNames } from './typedoc.config.mjs';

/**
 * A TypeDoc plugin: names each module of the reference after the specifier it is imported
 * by, as the exports map of package.json declares it.
 * @param {import('typedoc').Application} app
 */
export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    for (const module of context.project.children ?? []) {
      module.name = moduleNames[module.name] ?? module.name;
    }
  });
}
