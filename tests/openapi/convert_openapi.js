// Convert an OpenAPI description into a Postman collection the way Postman's importer
// does: openapi-to-postmanv2's current (v2) interface with its default options, plus
// example-mode parameter resolution (path ids, query values and bodies come from the
// description's examples instead of placeholders such as <integer>).
//
// Usage: node convert_openapi.js <openapi.json> <collection.json>
// NODE_PATH must point at the folder that holds openapi-to-postmanv2.
'use strict';

const fs = require('fs');
const converter = require('openapi-to-postmanv2');

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node convert_openapi.js <openapi.json> <collection.json>');
  process.exit(2);
}

converter.convertV2(
  { type: 'string', data: fs.readFileSync(input, 'utf8') },
  { parametersResolution: 'Example' },
  (err, result) => {
    if (err || !result.result) {
      console.error(err ? String(err) : result.reason);
      process.exit(1);
    }
    fs.writeFileSync(output, JSON.stringify(result.output[0].data, null, 1));
  },
);
