// A third-party SMSC for pingjing's SMPP tests and benchmark, built on node-smpp (not smpplib).
//
// Usage: node peer.js [--port 0] [--password secret] [--quiet]
// Prints "LISTENING <port>" once ready, then one JSON line per event on stdout
// ({"event": "submit", ...}, {"event": "bind", ...}). The behaviour of a bind is chosen by its
// system_id, so one peer process serves every scenario:
//   plain      answer everything, send a DELIVRD receipt (text + TLVs) after each submit_sm_resp
//   noreceipt  answer, send no receipts
//   throttle   answer every 4th submit_sm with ESME_RTHROTTLED (0x58), every 7th with ESME_RMSGQFUL
//   drop       the first time 5 submit_sm are in the window, close the link without answering them
//   early      send the receipt BEFORE the submit_sm_resp
//   dupes      receipts ENROUTE, DELIVRD, DELIVRD, ENROUTE (duplicate and out of order)
//   decimal    receipt text carries the id in decimal and no receipted_message_id TLV
//   replies    after the bind, send a 3-part UCS2 reply (UDH, parts out of order) and an SAR one
//   silent     never answer enquire_link
//   slow       never answer submit_sm (tests response deadlines)
//   citizen    like plain, and the citizen answers every text containing 满意 (a survey) with
//              the --reply text (default "3 接警太慢"), UCS2, to the address the survey came from,
//              --reply-delay ms after the receipt (default 20); --replies '{"138...": ["TD"]}'
//              gives some destinations their own replies (each sent in turn; [] for none)
// Any bind with a password other than --password is refused with ESME_RINVPASWD.
// A destination starting with "000" is refused with ESME_RINVDSTADR.
// With --control, commands are read from stdin, one JSON object per line:
//   {"cmd": "mo", "count": N, "rate": R, "texts": [...], "to": "1069", "first": 0}
//      citizens 13000000000+first ... send N replies (UCS2 deliver_sm, texts in turn) on the
//      latest session bound to receive, R per second (0: as fast as the event loop turns);
//      prints {"event": "mo_started"} and {"event": "mo_done"} with the time in ms.
'use strict';
const smpp = require('smpp');

const args = process.argv.slice(2);
function opt(name, dflt) {
  const i = args.indexOf('--' + name);
  return i >= 0 ? args[i + 1] : dflt;
}
const PORT = parseInt(opt('port', '0'), 10);
const PASSWORD = opt('password', 'secret');
const QUIET = args.includes('--quiet');
const REPLY = opt('reply', '3 接警太慢');
const REPLIES = JSON.parse(opt('replies', '{}'));
const REPLY_DELAY = Number(opt('reply-delay', '20'));
const CONTROL = args.includes('--control');
let receiver = null; // the latest session bound to receive: where --control's MO go

let nextId = 0x1000;
let dropped = false;
const counters = {};

function emit(obj) {
  if (!QUIET || ['bind', 'stats', 'mo_started', 'mo_done', 'control_error'].includes(obj.event)) {
    process.stdout.write(JSON.stringify(obj) + '\n');
  }
}

function pad(n) { return String(n).padStart(2, '0'); }
function smppDate(d) {
  return pad(d.getUTCFullYear() % 100) + pad(d.getUTCMonth() + 1) + pad(d.getUTCDate()) +
    pad(d.getUTCHours()) + pad(d.getUTCMinutes());
}

function receipt(session, submit, messageId, stat, opts) {
  opts = opts || {};
  const now = new Date();
  const idText = opts.decimal ? parseInt(messageId, 16).toString(10) : messageId;
  const text = 'id:' + idText + ' sub:001 dlvrd:' + (stat === 'DELIVRD' ? '001' : '000') +
    ' submit date:' + smppDate(now) + ' done date:' + smppDate(opts.done || now) +
    ' stat:' + stat + ' err:000 text:';
  const states = { ENROUTE: 1, DELIVRD: 2, EXPIRED: 3, UNDELIV: 5, REJECTD: 8 };
  const fields = {
    source_addr: submit.destination_addr,
    destination_addr: submit.source_addr,
    esm_class: 0x04,
    data_coding: 0,
    short_message: Buffer.from(text, 'latin1'),
  };
  if (!opts.decimal) {
    fields.receipted_message_id = messageId;
    fields.message_state = states[stat];
  }
  session.deliver_sm(fields);
}

function sendReplies(session) {
  // 3-part UCS2 reply with an 8-bit UDH, sent out of order: 2, 3, 1
  const text = '我对这次出警服务不满意，民警到场太慢了，等了四十多分钟才来，希望改进。' +
    '另外接警员态度还可以，但是现场处置不够耐心，没有解释清楚后续流程。' +
    '我打了两次电话询问进展都没有人回复，希望你们认真核实一下这件事情。😀 ' +
    '如果需要我可以提供当时的通话记录和照片，联系电话就是本机号码，谢谢！';
  const units = Buffer.from(text, 'utf16le').swap16();
  const size = 134; // 67 code units per part, cut naively by octets like some SMSCs do
  const chunks = [];
  for (let i = 0; i < units.length; i += size) chunks.push(units.slice(i, i + size));
  if (chunks.length !== 3) throw new Error('reply text should make 3 parts, got ' + chunks.length);
  const ref = 0x42;
  const order = [1, 2, 0].filter((i) => i < chunks.length);
  for (const i of order) {
    const udh = Buffer.from([5, 0, 3, ref, chunks.length, i + 1]);
    session.deliver_sm({
      source_addr: '13812345678',
      destination_addr: '106900001234',
      esm_class: 0x40,
      data_coding: 8,
      short_message: Buffer.concat([udh, chunks[i]]),
    });
  }
  // a 2-part SAR reply in GSM
  ['1 ', 'satisfied'].forEach((piece, i) => {
    session.deliver_sm({
      source_addr: '13912345678',
      destination_addr: '106900001234',
      esm_class: 0,
      data_coding: 0,
      short_message: Buffer.from(piece, 'latin1'),
      sar_msg_ref_num: 0x1234,
      sar_total_segments: 2,
      sar_segment_seqnum: i + 1,
    });
  });
  emit({ event: 'replies_sent', parts: order.length, text: text });
}

function citizenReply(session, submit) {
  const own = REPLIES[String(submit.destination_addr)];
  for (const text of own === undefined ? [REPLY] : own) {
    session.deliver_sm({
      source_addr: submit.destination_addr,
      destination_addr: submit.source_addr,
      esm_class: 0,
      data_coding: 8,
      short_message: Buffer.from(text, 'utf16le').swap16(),
    });
    emit({ event: 'reply_sent', to: String(submit.source_addr), from: String(submit.destination_addr), text: text });
  }
}

const server = smpp.createServer(function (session) {
  let mode = 'plain';
  let pendingDrop = [];
  session.on('error', function () {});
  function bind(pdu) {
    const systemId = String(pdu.system_id);
    if (pdu.password !== PASSWORD) {
      emit({ event: 'bind', system_id: systemId, ok: false });
      session.send(pdu.response({ command_status: smpp.ESME_RINVPASWD }));
      return;
    }
    mode = systemId;
    emit({ event: 'bind', system_id: systemId, ok: true, command: pdu.command });
    session.send(pdu.response({ system_id: 'nodepeer' }));
    if (pdu.command !== 'bind_transmitter') receiver = session;
    if (mode === 'replies' && pdu.command !== 'bind_transmitter') {
      setTimeout(function () { sendReplies(session); }, 20);
    }
  }
  session.on('bind_transceiver', bind);
  session.on('bind_transmitter', bind);
  session.on('bind_receiver', bind);
  session.on('enquire_link', function (pdu) {
    emit({ event: 'enquire_link', system_id: mode });
    if (mode !== 'silent') session.send(pdu.response());
  });
  session.on('unbind', function (pdu) {
    emit({ event: 'unbind', system_id: mode });
    session.send(pdu.response());
    session.close();
  });
  session.on('deliver_sm_resp', function () {});
  session.on('submit_sm', function (pdu) {
    counters[mode] = (counters[mode] || 0) + 1;
    const n = counters[mode];
    const sm = pdu.short_message || {};
    const udh = (sm.udh || []).map((b) => Buffer.from(b).toString('hex'));
    emit({
      event: 'submit', system_id: mode, n: n, seq: pdu.sequence_number,
      destination: pdu.destination_addr, source: pdu.source_addr,
      data_coding: pdu.data_coding, esm_class: pdu.esm_class,
      registered_delivery: pdu.registered_delivery, validity_period: pdu.validity_period ? String(pdu.validity_period) : null,
      udh: udh, message: typeof sm.message === 'string' ? sm.message : null,
      sar: pdu.sar_msg_ref_num !== undefined ? [pdu.sar_msg_ref_num, pdu.sar_total_segments, pdu.sar_segment_seqnum] : null,
    });
    if (mode === 'slow') return;
    if (mode === 'drop' && !dropped) {
      pendingDrop.push(pdu);
      if (pendingDrop.length >= 5) {
        dropped = true;
        emit({ event: 'dropped', count: pendingDrop.length });
        session.destroy();
      }
      return;
    }
    if (String(pdu.destination_addr).startsWith('000')) {
      session.send(pdu.response({ command_status: smpp.ESME_RINVDSTADR }));
      return;
    }
    if (mode === "throttle" && (n % 4 === 0 || n % 7 === 0)) {
      session.send(pdu.response({ command_status: n % 4 === 0 ? smpp.ESME_RTHROTTLED : smpp.ESME_RMSGQFUL }));
      return;
    }
    const messageId = (nextId++).toString(16).toUpperCase();
    const wantsReceipt = pdu.registered_delivery & 0x01 && mode !== 'noreceipt';
    if (mode === 'early' && wantsReceipt) {
      receipt(session, pdu, messageId, 'DELIVRD');
      setTimeout(function () { session.send(pdu.response({ message_id: messageId })); }, 30);
      return;
    }
    session.send(pdu.response({ message_id: messageId }));
    if (!wantsReceipt) return;
    if (mode === 'dupes') {
      const later = new Date(Date.now() + 60000);
      receipt(session, pdu, messageId, 'ENROUTE');
      receipt(session, pdu, messageId, 'DELIVRD', { done: later });
      receipt(session, pdu, messageId, 'DELIVRD', { done: later });
      receipt(session, pdu, messageId, 'ENROUTE');
    } else if (mode === 'decimal') {
      receipt(session, pdu, messageId, 'DELIVRD', { decimal: true });
    } else {
      receipt(session, pdu, messageId, 'DELIVRD');
    }
    if (mode === 'citizen' && typeof sm.message === 'string' && sm.message.includes('满意')) {
      setTimeout(function () { citizenReply(session, pdu); }, REPLY_DELAY);
    }
  });
});

function sendMo(cmd) {
  const session = receiver;
  if (!session) {
    emit({ event: 'control_error', error: 'mo: no session is bound to receive' });
    return;
  }
  const texts = cmd.texts.map((t) => Buffer.from(t, 'utf16le').swap16());
  const count = cmd.count;
  const rate = cmd.rate || 0;
  const first = cmd.first || 0;
  const t0 = Date.now();
  let sent = 0;
  emit({ event: 'mo_started', at: t0, count: count });
  function one(i) {
    session.deliver_sm({
      source_addr: '13' + String(first + i).padStart(9, '0'),
      destination_addr: cmd.to || '1069',
      esm_class: 0,
      data_coding: 8,
      short_message: texts[i % texts.length],
    });
  }
  function tick() {
    const due = rate > 0
      ? Math.min(count, Math.floor(((Date.now() - t0) * rate) / 1000) + 1)
      : Math.min(count, sent + 500);
    while (sent < due) one(sent++);
    if (sent < count) {
      if (rate > 0) setTimeout(tick, 5); else setImmediate(tick);
    } else {
      emit({ event: 'mo_done', at: Date.now(), count: count });
    }
  }
  tick();
}

if (CONTROL) {
  let pending = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', function (chunk) {
    pending += chunk;
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (!line) continue;
      let cmd;
      try { cmd = JSON.parse(line); } catch (e) {
        emit({ event: 'control_error', error: 'not JSON: ' + line });
        continue;
      }
      if (cmd.cmd === 'mo') sendMo(cmd);
      else emit({ event: 'control_error', error: 'unknown command: ' + line });
    }
  });
}

server.on('error', function (e) { process.stderr.write(String(e) + '\n'); process.exit(2); });
server.listen(PORT, '127.0.0.1', function () {
  process.stdout.write('LISTENING ' + server.address().port + '\n');
});
process.on('SIGTERM', function () { process.exit(0); });
