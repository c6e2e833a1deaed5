// Regenerates the outputs in this directory from credential.json and the W3C
// spec key pairs in ../vc-di-eddsa/ and ../vc-di-ecdsa/ (see SOURCE.md).
//
//   npm ci && node generate.mjs
import assert from 'node:assert/strict';
import {createHash} from 'node:crypto';
import fs from 'node:fs';

import * as base58btc from 'base58-universal';
import jsonld from 'jsonld';
import * as vc from '@digitalbazaar/vc';
import * as EcdsaMultikey from '@digitalbazaar/ecdsa-multikey';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as ecdsaRdfc2019} from '@digitalbazaar/ecdsa-rdfc-2019-cryptosuite';
import {cryptosuite as eddsaRdfc2022} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';

import {documentLoader, verifyCredential} from './verify.mjs';

const CREATED = '2023-02-24T23:36:38Z';

const here = name => new URL(name, import.meta.url);
const readJson = name => JSON.parse(fs.readFileSync(here(name), 'utf8'));
const write = (name, text) => {
  fs.writeFileSync(here(name), text);
  console.log(`wrote ${name}`);
};
const writeJson = (name, value) => write(name, JSON.stringify(value, null, 2) + '\n');

// A Multikey signer for a W3C spec key pair; the did:key is the public key.
async function keyFrom(keyPair, Multikey) {
  const {publicKeyMultibase} = keyPair;
  const controller = `did:key:${publicKeyMultibase}`;
  return Multikey.from({
    type: 'Multikey',
    id: `${controller}#${publicKeyMultibase}`,
    controller,
    publicKeyMultibase,
    secretKeyMultibase: keyPair.secretKeyMultibase ?? keyPair.privateKeyMultibase
  });
}

// RDFC-1.0 canonical N-Quads, exactly as the cryptosuites compute them
// (jsonld.toRDF in safe mode, then rdf-canonize).
const canonize = doc => eddsaRdfc2022.canonize(doc, {documentLoader});

async function sign(credential, key, cryptosuite) {
  const suite = new DataIntegrityProof({signer: key.signer(), date: CREATED, cryptosuite});
  return vc.issue({credential: structuredClone(credential), suite, documentLoader});
}

// The proof configuration: the proof without proofValue, with the
// credential's @context.
function proofConfig(signed) {
  const {proofValue, ...proof} = signed.proof;
  return {'@context': signed['@context'], ...proof};
}

// Checks proofValue against sha256(proof config N-Quads) || sha256(document
// N-Quads), so the .nq files are the very bytes that were signed.
async function checkSignature(key, signed, proofNq, docNq) {
  const sha256 = text => createHash('sha256').update(text, 'utf8').digest();
  const data = Buffer.concat([sha256(proofNq), sha256(docNq)]);
  const signature = base58btc.decode(signed.proof.proofValue.slice(1));
  assert(await key.verifier().verify({data, signature}), 'signature over the N-Quads');
}

async function checkVerifies(signed, name) {
  const result = await verifyCredential(signed);
  assert(result.verified, `${name} verifies: ${JSON.stringify(result, null, 2)}`);
}

const edKey = await keyFrom(readJson('../vc-di-eddsa/keyPair.json'), Ed25519Multikey);
const p256Key = await keyFrom(readJson('../vc-di-ecdsa/p256KeyPair.json'), EcdsaMultikey);

// Sanity check of the setup: reproduce the W3C vc-di-eddsa spec vector.
{
  const spec = readJson('../vc-di-eddsa/eddsa-rdfc-2022/signedDataInt.json');
  const signed = await sign(readJson('../vc-di-eddsa/unsigned.json'), edKey, eddsaRdfc2022);
  assert.equal(signed.proof.proofValue, spec.proof.proofValue, 'spec vector reproduced');
}

// Every term must be defined: safe mode throws on anything it would drop.
const credential = readJson('credential.json');
await jsonld.expand(credential, {documentLoader, safe: true});

// eddsa-rdfc-2022 (deterministic).
const docNq = await canonize(credential);
write('credential.nq', docNq);
const signedEddsa = await sign(credential, edKey, eddsaRdfc2022);
const eddsaProofNq = await canonize(proofConfig(signedEddsa));
write('eddsa-proof-config.nq', eddsaProofNq);
await checkSignature(edKey, signedEddsa, eddsaProofNq, docNq);
await checkVerifies(signedEddsa, 'signed-eddsa.json');
writeJson('signed-eddsa.json', signedEddsa);

// ecdsa-rdfc-2019 P-256. WebCrypto's ECDSA is randomized (proofValue changes
// on every run) and does not normalize s: about half its signatures have a
// high s. Keep one of those, so verifiers are tested on what JS issuers emit.
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const highS = ({proof}) => BigInt('0x' + Buffer.from(
  base58btc.decode(proof.proofValue.slice(1)).slice(32)).toString('hex')) > P256_N / 2n;

const credentialEcdsa = {...credential, issuer: p256Key.controller};
writeJson('credential-ecdsa.json', credentialEcdsa);
const ecdsaDocNq = await canonize(credentialEcdsa);
write('credential-ecdsa.nq', ecdsaDocNq);
let signedEcdsa;
do {
  signedEcdsa = await sign(credentialEcdsa, p256Key, ecdsaRdfc2019);
} while(!highS(signedEcdsa));
await checkSignature(p256Key, signedEcdsa, await canonize(proofConfig(signedEcdsa)), ecdsaDocNq);
await checkVerifies(signedEcdsa, 'signed-ecdsa.json');
writeJson('signed-ecdsa.json', signedEcdsa);
