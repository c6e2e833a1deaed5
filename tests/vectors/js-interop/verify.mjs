// Verifies a Data Integrity secured credential (eddsa-rdfc-2022 or
// ecdsa-rdfc-2019, issuer a did:key) with Digital Bazaar's libraries, offline.
//
//   node verify.mjs FILE.json
//
// Prints the verification result as JSON; exits 0 when verified, 1 when not.
// Also exports the offline `documentLoader` that generate.mjs uses.
import fs from 'node:fs';
import {fileURLToPath} from 'node:url';

import * as vc from '@digitalbazaar/vc';
import * as EcdsaMultikey from '@digitalbazaar/ecdsa-multikey';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {contexts as credentialsContexts} from '@digitalbazaar/credentials-context';
import dataIntegrityContext from '@digitalbazaar/data-integrity-context';
import {driver as didKeyDriver} from '@digitalbazaar/did-method-key';
import {cryptosuite as ecdsaRdfc2019} from '@digitalbazaar/ecdsa-rdfc-2019-cryptosuite';
import {cryptosuite as eddsaRdfc2022} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';

const repoContexts = new URL('../../../crates/core/contexts/', import.meta.url);
const readJson = url => JSON.parse(fs.readFileSync(url, 'utf8'));

// Every JSON-LD context this loader serves; any other URL is an error.
const CONTEXTS = new Map([
  // The files Sichat ships in crates/core/contexts/.
  ['https://w3id.org/security/multikey/v1',
    readJson(new URL('multikey-v1.jsonld', repoContexts))],
  ['https://www.w3.org/ns/credentials/status/v1',
    readJson(new URL('credentials-status-v1.jsonld', repoContexts))],
  ['https://www.w3.org/ns/credentials/undefined-terms/v2',
    readJson(new URL('credentials-undefined-terms-v2.jsonld', repoContexts))],
  // Sichat takes these from the ssi-contexts crate, not from a file; the npm
  // packages' copies are byte-identical to that crate's (see SOURCE.md).
  ['https://www.w3.org/ns/credentials/v2',
    credentialsContexts.get('https://www.w3.org/ns/credentials/v2')],
  ['https://w3id.org/security/data-integrity/v2',
    dataIntegrityContext.contexts.get(
      'https://w3id.org/security/data-integrity/v2')],
  // No npm package ships it; this is the whole document (as ssi-contexts'
  // w3c-ns-credentials-examples-v2.jsonld).
  ['https://www.w3.org/ns/credentials/examples/v2',
    {'@context': {'@vocab': 'https://www.w3.org/ns/credentials/examples#'}}]
]);

// did:key resolved locally, Multikey verification methods.
const didKey = didKeyDriver();
didKey.use({multibaseMultikeyHeader: 'z6Mk', fromMultibase: Ed25519Multikey.from});
didKey.use({multibaseMultikeyHeader: 'zDna', fromMultibase: EcdsaMultikey.from});

export async function documentLoader(url) {
  let document = CONTEXTS.get(url);
  if(!document && url.startsWith('did:key:')) {
    document = await didKey.get({url});
  }
  if(!document) {
    throw new Error(`offline document loader: no document for "${url}"`);
  }
  return {contextUrl: null, documentUrl: url, document};
}

export async function verifyCredential(credential) {
  return vc.verifyCredential({
    credential,
    suite: [
      new DataIntegrityProof({cryptosuite: eddsaRdfc2022}),
      new DataIntegrityProof({cryptosuite: ecdsaRdfc2019})
    ],
    documentLoader,
    // Status lists would have to be fetched: only the proof and the data
    // model are checked, and the result says so.
    checkStatus: async () => ({
      verified: true, checked: false,
      reason: 'offline: credentialStatus is not checked'
    })
  });
}

// Errors are not JSON-serializable as they are.
function errorsToJson(key, value) {
  if(value instanceof Error) {
    return {name: value.name, message: value.message, ...value};
  }
  return value;
}

if(process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if(!file) {
    console.error('usage: node verify.mjs FILE.json');
    process.exit(2);
  }
  const result = await verifyCredential(readJson(file));
  console.log(JSON.stringify(result, errorsToJson, 2));
  process.exitCode = result.verified ? 0 : 1;
}
