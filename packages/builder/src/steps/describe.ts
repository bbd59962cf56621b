import type { RecipeStep } from '../recipe/parse.js';

/** `RUN echo hi`, `COPY app/ config.yml /srv/`: for events and history. */
export function describeStep(step: RecipeStep): string {
  switch (step.kind) {
    case 'run':
      return `RUN ${typeof step.command === 'string' ? step.command : JSON.stringify(step.command)}`;
    case 'copy':
      return `COPY ${step.from ? `--from=${step.from} ` : ''}${step.chown ? `--chown=${step.chown} ` : ''}${step.chmod ? `--chmod=${step.chmod} ` : ''}${[...step.src, step.dest].join(' ')}`;
    case 'env':
      return `ENV ${Object.entries(step.env)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`;
    case 'workdir':
      return `WORKDIR ${step.workdir}`;
    case 'user':
      return `USER ${step.user}`;
    case 'label':
      return `LABEL ${Object.entries(step.labels)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(' ')}`;
    case 'expose':
      return `EXPOSE ${step.ports.join(' ')}`;
    case 'volume':
      return `VOLUME ${JSON.stringify(step.volumes)}`;
  }
}
