// Platform side of LTI Platform Storage (1EdTech "LTI Client Side postMessages").
//
// Tools framed by this page send `lti.capabilities`, `lti.put_data` and `lti.get_data` to
// it with postMessage (lti_storage_target "_parent"). Values live in this page's memory only,
// kept apart per origin of the sending frame, so a tool reads back only what the same tool
// origin stored. Every answer goes to the sender's origin with the subject + ".response" and
// the request's message_id; problems are answered with an `error` {code, message} object.
// The older "org.imsglobal.lti.*" subjects are answered too, in the same spelling.
(function () {
  "use strict";
  var PREFIX_OLD = "org.imsglobal.";
  var MAX_KEYS_PER_ORIGIN = 500;
  var MAX_VALUE_LENGTH = 4096;
  var store = new Map(); // origin -> Map(key -> value)

  function reply(event, request, fields) {
    var answer = { subject: (request.subject || "") + ".response",
                   message_id: request.message_id };
    Object.keys(fields).forEach(function (name) { answer[name] = fields[name]; });
    // A frame with an opaque origin ("null") can only be answered with "*"; it holds no data.
    event.source.postMessage(answer, event.origin === "null" ? "*" : event.origin);
  }

  function error(event, request, code, message) {
    reply(event, request, { error: { code: code, message: message } });
  }

  function originStore(origin, create) {
    if (!store.has(origin) && create) { store.set(origin, new Map()); }
    return store.get(origin);
  }

  window.addEventListener("message", function (event) {
    var request = event.data;
    if (!event.source || !request || typeof request !== "object" ||
        typeof request.subject !== "string") {
      return; // not an LTI message (other scripts use postMessage too)
    }
    var subject = request.subject;
    var plain = subject.indexOf(PREFIX_OLD) === 0 ? subject.slice(PREFIX_OLD.length) : subject;
    if (plain.indexOf("lti.") !== 0 || /\.response$/.test(plain)) { return; }
    var prefix = subject === plain ? "" : PREFIX_OLD;
    if (!request.message_id) {
      error(event, request, "bad_request", "The message has no message_id.");
      return;
    }
    var key = request.key;
    switch (plain) {
      case "lti.capabilities":
        reply(event, request, { supported_messages: [
          { subject: prefix + "lti.capabilities" },
          { subject: prefix + "lti.put_data" },
          { subject: prefix + "lti.get_data" }
        ] });
        break;
      case "lti.put_data":
        if (typeof key !== "string" || !key) {
          error(event, request, "bad_request", "The message has no key.");
        } else if (typeof request.value !== "string") {
          error(event, request, "bad_request", "The message has no string value.");
        } else if (request.value.length > MAX_VALUE_LENGTH) {
          error(event, request, "bad_request", "The value is too long.");
        } else {
          var values = originStore(event.origin, true);
          if (!values.has(key) && values.size >= MAX_KEYS_PER_ORIGIN) {
            error(event, request, "bad_request", "Too many keys stored for this origin.");
            break;
          }
          values.set(key, request.value);
          reply(event, request, { key: key, value: request.value });
        }
        break;
      case "lti.get_data":
        if (typeof key !== "string" || !key) {
          error(event, request, "bad_request", "The message has no key.");
        } else if (!originStore(event.origin, false) ||
                   !originStore(event.origin, false).has(key)) {
          error(event, request, "bad_request", "There is no value stored for this key.");
        } else {
          reply(event, request, { key: key, value: originStore(event.origin, false).get(key) });
        }
        break;
      default:
        error(event, request, "unsupported_subject",
              "The subject '" + subject + "' is not supported.");
    }
  });
})();
