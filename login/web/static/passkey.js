// Passkeys. A form marked data-passkey="create" or "get" asks its
// data-options endpoint for a challenge (posting the form's fields, CSRF
// token included), lets the authenticator sign it, and submits the form
// with the ceremony and the credential (base64url JSON). The server's
// answer is an ordinary page. Every page works without this file; only
// passkeys need it. A form with data-conditional="<input id>" also offers
// the passkeys in that field's autofill (conditional mediation).
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials || !window.fetch) {
    return;
  }

  function decode(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) {
      s += "=";
    }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  function encode(buf) {
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function decodeIDs(list) {
    (list || []).forEach(function (c) {
      c.id = decode(c.id);
    });
  }

  function credentialJSON(c) {
    var r = c.response;
    var out = {
      id: c.id,
      rawId: encode(c.rawId),
      type: c.type,
      authenticatorAttachment: c.authenticatorAttachment || undefined,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: { clientDataJSON: encode(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = encode(r.attestationObject);
      if (r.getTransports) {
        out.response.transports = r.getTransports();
      }
    } else {
      out.response.authenticatorData = encode(r.authenticatorData);
      out.response.signature = encode(r.signature);
      if (r.userHandle) {
        out.response.userHandle = encode(r.userHandle);
      }
    }
    return out;
  }

  // options posts the form's fields to its options endpoint.
  function options(form) {
    var body = new URLSearchParams();
    new FormData(form).forEach(function (v, k) {
      if (k !== "ceremony" && k !== "credential") {
        body.append(k, v);
      }
    });
    return fetch(form.getAttribute("data-options"), {
      method: "POST", body: body, credentials: "same-origin", headers: { Accept: "application/json" }
    }).then(function (resp) {
      return resp.json().catch(function () {
        return {};
      }).then(function (j) {
        var loc = j.location;
        if (typeof loc === "string" && loc.charAt(0) === "/" && loc.charAt(1) !== "/") {
          window.location.assign(loc); // sign in again first
          throw new Error("reauthenticate");
        }
        if (!resp.ok || !j.options || !j.options.publicKey) {
          throw new Error("no options");
        }
        return j;
      });
    });
  }

  function run(form, signal) {
    return options(form).then(function (j) {
      var pk = j.options.publicKey;
      pk.challenge = decode(pk.challenge);
      var got;
      if (form.getAttribute("data-passkey") === "create") {
        pk.user.id = decode(pk.user.id);
        decodeIDs(pk.excludeCredentials);
        got = navigator.credentials.create({ publicKey: pk });
      } else {
        decodeIDs(pk.allowCredentials);
        var req = { publicKey: pk };
        if (signal) {
          req.mediation = "conditional";
          req.signal = signal;
        }
        got = navigator.credentials.get(req);
      }
      return got.then(function (cred) {
        if (!cred) {
          throw new Error("no credential");
        }
        form.elements.ceremony.value = j.ceremony;
        form.elements.credential.value = JSON.stringify(credentialJSON(cred));
        form.submit();
      });
    });
  }

  function setup(form) {
    var box = document.getElementById("passkey");
    if (box) {
      box.hidden = false;
    }
    var errorBox = form.querySelector("[data-passkey-error]");
    var button = form.querySelector("button[type=submit]");
    var conditional = null;

    function startConditional() {
      var field = document.getElementById(form.getAttribute("data-conditional") || "");
      if (!field || !PublicKeyCredential.isConditionalMediationAvailable) {
        return;
      }
      PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
        if (!ok) {
          return;
        }
        conditional = new AbortController();
        run(form, conditional.signal).catch(function () {
          // Dismissed, aborted for the button, or refused: the form stays.
        });
      });
    }

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (conditional) {
        conditional.abort();
        conditional = null;
      }
      if (errorBox) {
        errorBox.hidden = true;
      }
      if (button) {
        button.disabled = true;
      }
      run(form, null).catch(function () {
        if (errorBox) {
          errorBox.hidden = false;
        }
        if (button) {
          button.disabled = false;
        }
      });
    });
    startConditional();
  }

  document.querySelectorAll("form[data-passkey]").forEach(setup);
})();
