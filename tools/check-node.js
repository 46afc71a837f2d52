// The first thing every npm script runs (required by tools/register.js; tools/up.sh runs it before npm ci): the kit
// needs Node.js 22.12 or later (package.json engines). On an older Node, one line saying which Node it needs and how
// to get it, exit 2, before anything heavy is loaded (which would otherwise fail later, or silently misbehave).
// Plain old JavaScript on purpose: it must parse and run on any Node.
"use strict";
var NEEDED = [22, 12];
var parts = process.versions.node.split(".").map(Number);
if (parts[0] < NEEDED[0] || (parts[0] === NEEDED[0] && parts[1] < NEEDED[1])) {
  process.stderr.write(
    "sp-api-iam: needs Node.js " +
      NEEDED.join(".") +
      " or later; this is Node " +
      process.versions.node +
      " (" +
      process.execPath +
      "). " +
      "Install Node 24 LTS (nodejs.org, or nvm install 24) and run the command again (README, Quick start; docs/requirements.md).\n",
  );
  process.exit(2);
}
