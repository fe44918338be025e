#!/usr/bin/env node
// Independent check of Microcred VC-JWTs (OB 3.0 §8.2) with Node's own crypto, no Python code.
//
// Usage: node verify_jwt.mjs [file.jsonl]
// Reads one JSON object per line, {"token": "<compact JWS>", "jwk": {public JWK}}, from the file
// or stdin; prints one JSON line per input: {"index": 0, "verified": true, "errors": []}.
// Checks: compact form, header (alg RS256 or EdDSA, typ JWT, kid, nothing else but jwk), the
// signature against the JWK, and the claims OB 3.0 derives from the credential (iss, jti, nbf,
// exp, sub).

import {createPublicKey, verify} from 'node:crypto';
import {createReadStream} from 'node:fs';
import {createInterface} from 'node:readline';

const ALGORITHMS = {RS256: 'sha256', EdDSA: null};
const HEADER_NAMES = new Set(['alg', 'kid', 'jwk', 'typ']);

function decodeJson(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

function epoch(value) {
  return Math.floor(Date.parse(value) / 1000);
}

function check(token, jwk) {
  const errors = [];
  const parts = token.split('.');
  if(parts.length !== 3) {
    return ['not a compact JWS'];
  }
  const header = decodeJson(parts[0]);
  const payload = decodeJson(parts[1]);
  if(!(header.alg in ALGORITHMS)) {
    errors.push(`alg ${header.alg} not allowed`);
  }
  if(header.typ !== 'JWT') {
    errors.push('typ must be JWT');
  }
  if(typeof header.kid !== 'string') {
    errors.push('kid missing');
  }
  for(const name of Object.keys(header)) {
    if(!HEADER_NAMES.has(name)) {
      errors.push(`unexpected header ${name}`);
    }
  }
  const key = createPublicKey({key: jwk, format: 'jwk'});
  const ok = verify(
    ALGORITHMS[header.alg] ?? null,
    Buffer.from(`${parts[0]}.${parts[1]}`, 'ascii'),
    key,
    Buffer.from(parts[2], 'base64url'));
  if(!ok) {
    errors.push('signature does not verify');
  }
  const issuer = typeof payload.issuer === 'string' ? payload.issuer : payload.issuer?.id;
  if(payload.iss !== issuer) {
    errors.push('iss is not the issuer id');
  }
  if(payload.jti !== payload.id) {
    errors.push('jti is not the credential id');
  }
  if(payload.nbf !== epoch(payload.validFrom)) {
    errors.push('nbf is not validFrom');
  }
  if(payload.validUntil !== undefined && payload.exp !== epoch(payload.validUntil)) {
    errors.push('exp is not validUntil');
  }
  const subject = payload.credentialSubject?.id;
  if(subject !== undefined && payload.sub !== subject) {
    errors.push('sub is not credentialSubject.id');
  }
  return errors;
}

async function main() {
  const file = process.argv[2];
  const input = file ? createReadStream(file) : process.stdin;
  const lines = createInterface({input, crlfDelay: Infinity});
  let index = 0;
  for await (const line of lines) {
    if(!line.trim()) {
      continue;
    }
    let errors;
    try {
      const {token, jwk} = JSON.parse(line);
      errors = check(token, jwk);
    } catch(e) {
      errors = [String(e && e.message || e)];
    }
    process.stdout.write(
      JSON.stringify({index, verified: errors.length === 0, errors}) + '\n');
    index++;
  }
}

main().catch(e => {
  console.error(e);
  process.exit(2);
});
