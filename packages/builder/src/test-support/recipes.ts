/**
 * The reference recipe (every single-stage step type), one text for two tests:
 * recipe/parse.test.ts checks each step it parses to, with the line and column of the
 * first two (the `run` step is line 4, column 10), and build-run.root.test.ts builds it with a
 * context holding `app/start.sh` and `config.yml`.
 */
export const REFERENCE_RECIPE = `from: alpine:3.20
args: {VERSION: "1.0"}
steps:
  - run: echo "$VERSION" > /version
  - copy: {src: [app/, config.yml], dest: /srv/, chown: "1000:1000", chmod: "0644"}
  - env: {PORT: "8080"}
  - workdir: /srv
  - user: "1000"
  - label: {org.opencontainers.image.title: demo}
  - expose: [8080]
entrypoint: ["/srv/app/start.sh"]
cmd: ["--port", "8080"]
`;
