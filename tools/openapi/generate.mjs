// TypeScript types for wadah's API from its OpenAPI document, as openapi-typescript's docs
// recommend for files: a `format: binary` schema is a Blob, so only a file fits the import body.
// Usage: node generate.mjs <openapi.json> <out.ts>
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import openapiTS, { astToString } from "openapi-typescript";
import ts from "typescript";

const [source, target] = process.argv.slice(2);
if (!source || !target) {
  console.error("usage: node generate.mjs <openapi.json> <out.ts>");
  process.exit(2);
}
const BLOB = ts.factory.createTypeReferenceNode(ts.factory.createIdentifier("Blob"));
const ast = await openapiTS(pathToFileURL(path.resolve(source)), {
  transform(schema) {
    if (schema.format === "binary") return BLOB;
    return undefined;
  },
});
fs.mkdirSync(path.dirname(target), { recursive: true });
fs.writeFileSync(target, astToString(ast));
