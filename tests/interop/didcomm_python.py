"""DIDComm v2 interop between `sichat-client didcomm` and SICPA's didcomm-python.

An independent implementation in another language (https://github.com/sicpa-dlab/didcomm-python,
on PyPI as `didcomm`) packs messages our CLI unpacks, and unpacks messages our CLI packs:
authcrypt, anoncrypt and signed-then-encrypted, in both directions. Run by
`tests/interop/didcomm_python.sh`, which installs the library in a virtualenv.

The Python party is a did:peer:2 whose key ids are the numbered form (`#key-1`, `#key-2`);
ours is a did:key (Ed25519, its X25519 form for key agreement). didcomm-python resolves
nothing itself: the documents are handed to its in-memory resolver, ours as our CLI resolves
it (Multikey methods rewritten as JsonWebKey2020, which the library reads).
"""

import asyncio
import base64
import json
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import uuid

import base58
from didcomm.common.resolvers import ResolversConfig
from didcomm.common.types import (
    VerificationMaterial,
    VerificationMaterialFormat,
    VerificationMethodType,
)
from didcomm.did_doc.did_doc import DIDDoc
from didcomm.did_doc.did_resolver_in_memory import DIDResolverInMemory
from didcomm.pack_encrypted import PackEncryptedConfig, pack_encrypted
from didcomm.secrets.secrets_resolver import Secret
from didcomm.secrets.secrets_resolver_in_memory import SecretsResolverInMemory
from didcomm.secrets.secrets_util import (
    generate_ed25519_keys_as_jwk_dict,
    generate_x25519_keys_as_jwk_dict,
)
from didcomm.unpack import unpack

CLIENT = sys.argv[1]
HOME = tempfile.mkdtemp(prefix="sichat-interop-")
BASIC = "https://didcomm.org/basicmessage/2.0/message"


def cli(*args, stdin=None):
    """Runs `sichat-client ARGS` with `stdin` (a JSON value) in our home; its JSON output."""
    out = subprocess.run(
        [CLIENT, *args],
        input=None if stdin is None else json.dumps(stdin),
        capture_output=True,
        text=True,
        env={"SICHAT_CLIENT_HOME": HOME, "PATH": "/usr/bin:/bin"},
    )
    if out.returncode != 0:
        raise SystemExit(f"sichat-client {' '.join(args)} failed: {out.stdout} {out.stderr}")
    return json.loads(out.stdout)


def cli_refuses(*args, stdin=None):
    """Runs `sichat-client ARGS`, which must fail: exit code 1, `{"error": ...}`."""
    out = subprocess.run(
        [CLIENT, *args],
        input=json.dumps(stdin),
        capture_output=True,
        text=True,
        env={"SICHAT_CLIENT_HOME": HOME, "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 1, (out.returncode, out.stdout)
    return json.loads(out.stdout)["error"]


def b64u(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def multibase_to_jwk(value):
    raw = base58.b58decode(value[1:])
    crv = {b"\xed\x01": "Ed25519", b"\xec\x01": "X25519"}[raw[:2]]
    return {"kty": "OKP", "crv": crv, "x": b64u(raw[2:])}


def multibase(prefix, jwk):
    raw = base64.urlsafe_b64decode(jwk["x"] + "==")
    return "z" + base58.b58encode(prefix + raw).decode()


def as_jwk_document(doc):
    """Our document with each Ed25519/X25519 Multikey method as JsonWebKey2020 (what
    didcomm-python reads); other keys (P-256) and our v2-style services left out."""
    okp = [m for m in doc["verificationMethod"] if m["publicKeyMultibase"][:3] in ("z6M", "z6L")]
    ids = {m["id"] for m in okp}
    doc = {k: v for k, v in doc.items() if k not in ("service", "alsoKnownAs")}
    for relationship in ("authentication", "assertionMethod", "keyAgreement",
                         "capabilityInvocation", "capabilityDelegation"):
        if relationship in doc:
            doc[relationship] = [i for i in doc[relationship] if i in ids]
    doc["verificationMethod"] = [
        {
            "id": m["id"],
            "type": "JsonWebKey2020",
            "controller": m["controller"],
            "publicKeyJwk": multibase_to_jwk(m["publicKeyMultibase"]),
        }
        for m in okp
    ]
    return DIDDoc.deserialize(doc)


def python_party(service=None):
    """A did:peer:2 with an Ed25519 (V) and an X25519 (E) key. Its document lists each key
    under both key-id forms deployed libraries use (DESIGN: the numbered `#key-1`, `#key-2`,
    first, so that didcomm-python sends with them; and peerdid-python's `#6Mk…`/`#6LS…`, the
    first 8 characters of the multibase value, which is what we resolve and encrypt to)."""
    ed_private, ed_public = generate_ed25519_keys_as_jwk_dict()
    x_private, x_public = generate_x25519_keys_as_jwk_dict()
    ed_mb, x_mb = multibase(b"\xed\x01", ed_public), multibase(b"\xec\x01", x_public)
    did = f"did:peer:2.V{ed_mb}.E{x_mb}"
    if service:
        abbreviated = {"t": "dm", "s": {"uri": service["uri"], "r": service["routing_keys"]}}
        did += ".S" + b64u(json.dumps(abbreviated, separators=(",", ":")).encode())
    sign_kids = [did + "#key-1", did + "#" + ed_mb[1:9]]
    agree_kids = [did + "#key-2", did + "#" + x_mb[1:9]]
    method = lambda kid, jwk: {
        "id": kid, "type": "JsonWebKey2020", "controller": did, "publicKeyJwk": jwk,
    }
    doc = DIDDoc.deserialize(
        {
            "@context": ["https://www.w3.org/ns/did/v1"],
            "id": did,
            "verificationMethod": [method(k, ed_public) for k in sign_kids]
            + [method(k, x_public) for k in agree_kids],
            "authentication": sign_kids,
            "assertionMethod": sign_kids,
            "keyAgreement": agree_kids,
            # didcomm-python reads DIDComm v1-style services (a string endpoint).
            "service": [
                {
                    "id": did + "#didcomm-1",
                    "type": "DIDCommMessaging",
                    "serviceEndpoint": service["uri"],
                    "recipientKeys": [agree_kids[1]],
                    "routingKeys": service["routing_keys"],
                    "accept": ["didcomm/v2"],
                }
            ]
            if service
            else [],
        }
    )
    secrets = [
        Secret(
            kid=kid,
            type=VerificationMethodType.JSON_WEB_KEY_2020,
            verification_material=VerificationMaterial(
                format=VerificationMaterialFormat.JWK, value=json.dumps(dict(jwk, kid=kid))
            ),
        )
        for kids, jwk in [(sign_kids, ed_private), (agree_kids, x_private)]
        for kid in kids
    ]
    return did, doc, secrets


def message(frm, to, text):
    m = {"id": str(uuid.uuid4()), "type": BASIC, "to": [to], "body": {"content": text}}
    if frm:
        m["from"] = frm
    return m


async def main():
    ours = cli("didcomm", "did", stdin={"kind": "key"})["did"]
    our_doc = as_jwk_document(cli("resolve", ours)["didDocument"])
    theirs, their_doc, their_secrets = python_party()
    config = ResolversConfig(
        did_resolver=DIDResolverInMemory([our_doc, their_doc]),
        secrets_resolver=SecretsResolverInMemory(their_secrets),
    )
    checks = 0

    # didcomm-python packs, we unpack.
    for frm, sign in [(theirs, False), (theirs, True), (None, False)]:
        text = f"python to sichat, from={bool(frm)} sign={sign}"
        packed = await pack_encrypted(
            resolvers_config=config,
            message=message(frm, ours, text),
            to=ours,
            frm=frm,
            sign_frm=theirs if sign else None,
            pack_config=PackEncryptedConfig(forward=False),
        )
        opened = cli("didcomm", "unpack", stdin={"packed": packed.packed_msg})
        meta = opened["metadata"]
        assert opened["message"]["body"]["content"] == text, opened
        assert meta["encrypted"] is True, meta
        assert meta["authenticated"] is bool(frm), meta
        if frm:
            assert meta["encrypted_from"].startswith(theirs + "#"), meta
        if sign:
            assert meta["non_repudiation"] is True and meta["sign_from"] == theirs + "#key-1", meta
        checks += 1
        # The same envelope with its ciphertext altered: refused, nothing returned.
        tampered = json.loads(packed.packed_msg)
        tampered["ciphertext"] = ("A" if tampered["ciphertext"][0] != "A" else "B") + tampered[
            "ciphertext"
        ][1:]
        assert cli_refuses("didcomm", "unpack", stdin={"packed": json.dumps(tampered)})
        checks += 1

    # We pack, didcomm-python unpacks.
    for frm, sign in [(ours, False), (ours, True), (None, False)]:
        text = f"sichat to python, from={bool(frm)} sign={sign}"
        packed = cli(
            "didcomm",
            "pack",
            stdin={"message": message(frm, theirs, text), "to": theirs, "from": frm, "sign": sign},
        )["packed"]
        result = await unpack(config, packed)
        meta = result.metadata
        assert result.message.body["content"] == text, result.message
        assert meta.encrypted and meta.authenticated is bool(frm), meta
        if frm:
            assert meta.encrypted_from.startswith(ours + "#"), meta
        if sign:
            assert meta.non_repudiation and meta.sign_from.startswith(ours + "#"), meta
        checks += 1

    if len(sys.argv) > 2:
        checks += await through_the_mediator(sys.argv[2])
    print(json.dumps({"interop": "didcomm-python", "checks": checks, "sichat": ours, "python": theirs}))


def post(url, packed):
    """POSTs a packed message to the mediator: (status, body)."""
    request = urllib.request.Request(
        url,
        data=packed.encode(),
        headers={"content-type": "application/didcomm-encrypted+json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


async def through_the_mediator(base):
    """didcomm-python parties use Sichat's mediator: Bob asks for mediation
    (coordinate-mediation 2.0) and registers his inbox DID, Alice's forward (wrapped by
    didcomm-python along the inbox's routing key) is stored, and Bob takes it back with
    pickup 3.0 and opens it."""
    server_doc = json.load(urllib.request.urlopen(base + "/.well-known/did.json", timeout=10))
    mediator = server_doc["id"]
    mediator_doc = as_jwk_document(server_doc)
    endpoint = base + "/didcomm"
    bob, bob_doc, bob_secrets = python_party()
    inbox, inbox_doc, inbox_secrets = python_party(
        {"uri": endpoint, "routing_keys": [server_doc["keyAgreement"][0]]}
    )
    alice, alice_doc, alice_secrets = python_party()
    config = ResolversConfig(
        did_resolver=DIDResolverInMemory([mediator_doc, bob_doc, inbox_doc, alice_doc]),
        secrets_resolver=SecretsResolverInMemory(bob_secrets + inbox_secrets + alice_secrets),
    )

    async def ask(kind, body):
        """Bob to the mediator, authcrypted, the reply on the connection; the reply."""
        m = {"id": str(uuid.uuid4()), "type": kind, "from": bob, "to": [mediator],
             "body": body, "return_route": "all"}
        packed = await pack_encrypted(config, m, to=mediator, frm=bob,
                                      pack_config=PackEncryptedConfig(forward=False))
        status, reply = post(endpoint, packed.packed_msg)
        assert status == 200, (status, reply)
        opened = await unpack(config, reply)
        assert opened.metadata.authenticated, opened.metadata
        return opened.message

    coordinate = "https://didcomm.org/coordinate-mediation/2.0/"
    # Anoncrypted, a mediate-request only claims to be Bob's: refused with a problem
    # report (signed by the mediator, since the sender is unknown), nothing granted.
    claim = {"id": str(uuid.uuid4()), "type": coordinate + "mediate-request", "from": bob,
             "to": [mediator], "body": {}, "return_route": "all"}
    packed = await pack_encrypted(config, claim, to=mediator,
                                  pack_config=PackEncryptedConfig(forward=False))
    status, reply = post(endpoint, packed.packed_msg)
    assert status == 200, (status, reply)
    refused = await unpack(config, reply)
    assert refused.metadata.non_repudiation and not refused.metadata.encrypted, refused.metadata
    assert refused.message.type == "https://didcomm.org/report-problem/2.0/problem-report"
    assert refused.message.body["code"] == "e.p.trust", refused.message

    grant = await ask(coordinate + "mediate-request", {})
    assert grant.type == coordinate + "mediate-grant", grant
    updated = await ask(coordinate + "keylist-update",
                        {"updates": [{"recipient_did": inbox, "action": "add"}]})
    assert updated.body["updated"][0]["result"] == "success", updated

    text = "Alice to Bob, through Sichat's mediator, packed by didcomm-python"
    packed = await pack_encrypted(config, message(alice, inbox, text), to=inbox, frm=alice)
    assert packed.service_metadata.service_endpoint == endpoint, packed.service_metadata
    status, body = post(endpoint, packed.packed_msg)
    assert status == 202, (status, body)

    pickup = "https://didcomm.org/messagepickup/3.0/"
    delivery = await ask(pickup + "delivery-request", {"limit": 10, "recipient_did": inbox})
    assert delivery.type == pickup + "delivery", delivery
    assert len(delivery.attachments) == 1, delivery
    data = delivery.attachments[0].data
    inner = json.dumps(data.json) if hasattr(data, "json") else base64.urlsafe_b64decode(
        data.base64 + "==").decode()
    opened = await unpack(config, inner)
    assert opened.message.body["content"] == text, opened.message
    assert opened.metadata.authenticated and opened.metadata.encrypted_from.startswith(alice)
    status = await ask(pickup + "messages-received",
                       {"message_id_list": [delivery.attachments[0].id]})
    assert status.type == pickup + "status" and status.body["message_count"] == 0, status
    return 5


asyncio.run(main())
