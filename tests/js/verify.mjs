#!/usr/bin/env node
// Independent verifier for Microcred credentials, built only on Digital Bazaar's libraries
// (@digitalbazaar/vc + data-integrity + eddsa-rdfc-2022-cryptosuite + ed25519-multikey).
//
// Usage:
//   node verify.mjs [--did-docs dids.json] [--now 2025-01-01T00:00:00Z] [file.jsonl]
// Reads one credential (JSON) per line from the file or stdin; prints one JSON line per input:
//   {"index": 0, "verified": true, "errors": []}
// --did-docs: a JSON object {did: DID document} served for did:web (and other) DIDs; did:key is
// resolved locally by @digitalbazaar/did-method-key. Contexts come from the npm context packages;
// the Open Badges contexts (no npm package publishes them) from lti_tool/openbadges/contexts/.
// Status entries are not fetched: checkStatus reports the status as not checked (verified).

import {readFileSync} from 'node:fs';
import {createInterface} from 'node:readline';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import * as DidKey from '@digitalbazaar/did-method-key';
import {contexts as credentialsContexts} from '@digitalbazaar/credentials-context';
import dataIntegrityContext from '@digitalbazaar/data-integrity-context';
import multikeyContext from '@digitalbazaar/multikey-context';
import {contexts as statusListContexts} from
  '@digitalbazaar/vc-bitstring-status-list-context';
import didContext from 'did-context';

const here = dirname(fileURLToPath(import.meta.url));
const obContextDir = join(here, '..', '..', 'lti_tool', 'openbadges', 'contexts');

function parseArgs(argv) {
  const args = {didDocs: {}, now: undefined, file: undefined};
  for(let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if(a === '--did-docs') {
      args.didDocs = JSON.parse(readFileSync(argv[++i], 'utf8'));
    } else if(a === '--now') {
      args.now = argv[++i];
    } else {
      args.file = a;
    }
  }
  return args;
}

const contexts = new Map();
for(const [url, ctx] of credentialsContexts) {
  contexts.set(url, ctx);
}
for(const [url, ctx] of dataIntegrityContext.contexts) {
  contexts.set(url, ctx);
}
for(const [url, ctx] of multikeyContext.contexts) {
  contexts.set(url, ctx);
}
for(const [url, ctx] of statusListContexts) {
  contexts.set(url, ctx);
}
contexts.set(didContext.constants.DID_CONTEXT_URL,
  didContext.contexts.get(didContext.constants.DID_CONTEXT_URL));
for(const [suffix, file] of [
  ['context-3.0.3.json', 'ob-v3p0-context-3.0.3.json'],
  ['context-3.0.2.json', 'ob-v3p0-context-3.0.2.json'],
  ['context-3.0.1.json', 'ob-v3p0-context-3.0.1.json'],
  ['context.json', 'ob-v3p0-context.json'],
]) {
  contexts.set(`https://purl.imsglobal.org/spec/ob/v3p0/${suffix}`,
    JSON.parse(readFileSync(join(obContextDir, file), 'utf8')));
}

const didKeyDriver = DidKey.driver();
didKeyDriver.use({
  multibaseMultikeyHeader: 'z6Mk',
  fromMultibase: Ed25519Multikey.from
});

function makeDocumentLoader(didDocs) {
  return async url => {
    if(contexts.has(url)) {
      return {contextUrl: null, documentUrl: url, document: contexts.get(url)};
    }
    if(url.startsWith('did:key:')) {
      const document = await didKeyDriver.get({url});
      return {contextUrl: null, documentUrl: url, document};
    }
    const [did, fragment] = url.split('#');
    if(didDocs[did]) {
      const doc = didDocs[did];
      if(!fragment) {
        return {contextUrl: null, documentUrl: url, document: doc};
      }
      const method = (doc.verificationMethod || []).find(m => m.id === url);
      if(method) {
        return {
          contextUrl: null,
          documentUrl: url,
          document: {'@context': doc['@context'], ...method}
        };
      }
    }
    throw new Error(`Document not found (offline loader): ${url}`);
  };
}

function errorMessages(result) {
  const out = [];
  const walk = e => {
    if(!e) {
      return;
    }
    if(Array.isArray(e)) {
      e.forEach(walk);
      return;
    }
    if(e.errors) {
      walk(e.errors);
    }
    if(e.message) {
      out.push(e.message);
    }
  };
  walk(result.error);
  for(const r of result.results || []) {
    if(!r.verified) {
      walk(r.error);
    }
  }
  return [...new Set(out)];
}

async function verifyOne(credential, documentLoader, now) {
  const suite = new DataIntegrityProof({cryptosuite: eddsaRdfc2022});
  const result = await vc.verifyCredential({
    credential,
    suite,
    documentLoader,
    now,
    checkStatus: async () => ({verified: true})
  });
  return {verified: result.verified === true, errors: errorMessages(result)};
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const documentLoader = makeDocumentLoader(args.didDocs);
  const input = args.file ?
    (await import('node:fs')).createReadStream(args.file) : process.stdin;
  const lines = createInterface({input, crlfDelay: Infinity});
  let index = 0;
  for await (const line of lines) {
    if(!line.trim()) {
      continue;
    }
    let out;
    try {
      out = await verifyOne(JSON.parse(line), documentLoader, args.now);
    } catch(e) {
      out = {verified: false, errors: [String(e && e.message || e)]};
    }
    process.stdout.write(JSON.stringify({index, ...out}) + '\n');
    index++;
  }
}

main().catch(e => {
  console.error(e);
  process.exit(2);
});
