// An Optic ruleset for what Optic 1.0.9's own `breaking-changes` ruleset does not check: the enum of
// an array's items. Optic's enum rule runs on properties and parameters only, and this API's enums
// (Platform, Scope) are the items of request arrays, so removing a platform would pass unnoticed.
// Optic still computes the diff; this only judges the items schemas it hands over, with the same
// semantics as Optic's property enum rule: a request may not stop accepting a value, a response may
// not start returning a new one (a generated client's enum cannot parse it).
const { RequestRule, ResponseBodyRule, Ruleset, RuleError } = require('@useoptic/rulesets-base');

const ANY = null; // no enum: every value is allowed

function allowedValues(schema) {
  if (schema && Array.isArray(schema.enum)) return schema.enum;
  if (schema && 'const' in schema) return [schema.const];
  return ANY;
}

// Values in `from` that `to` lacks; `to` being unrestricted (ANY) lacks nothing.
function missing(from, to) {
  if (to === ANY) return [];
  if (from === ANY) return ['(any value)'];
  const kept = new Set(to.map((value) => JSON.stringify(value)));
  return from.filter((value) => !kept.has(JSON.stringify(value)));
}

function isArrayItems(schema) {
  return schema.location.conceptualLocation.context?.type === 'array';
}

function where(schema) {
  return schema.location.conceptualLocation.jsonSchemaTrail.join('.');
}

const requestItems = new RequestRule({
  name: 'prevent narrowing request array item enums',
  rule: (request) => {
    request.schema.changed((before, after) => {
      if (!isArrayItems(after)) return;
      const removed = missing(allowedValues(before.raw), allowedValues(after.raw));
      if (removed.length) {
        throw new RuleError({
          message: `cannot stop accepting ${removed.join(', ')} in request array '${where(after)}'. This is a breaking change.`,
        });
      }
    });
  },
});

const responseItems = new ResponseBodyRule({
  name: 'prevent widening response array item enums',
  rule: (response) => {
    response.schema.changed((before, after) => {
      if (!isArrayItems(after)) return;
      const added = missing(allowedValues(after.raw), allowedValues(before.raw));
      if (added.length) {
        throw new RuleError({
          message: `cannot start returning ${added.join(', ')} in response array '${where(after)}'. This is a breaking change.`,
        });
      }
    });
  },
});

module.exports = {
  configSchema: {},
  rulesetConstructor: () =>
    new Ruleset({ name: 'array item enums', rules: [requestItems, responseItems] }),
};
