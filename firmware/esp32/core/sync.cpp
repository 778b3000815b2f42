#include "sync.h"

namespace quizhub {

CodecError sync_receive(const char* payload, size_t len, int64_t t2_us, SyncReplyMsg& pending) {
  SyncMsg req;
  const CodecError e = decode_sync(payload, len, req);
  if (e != CodecError::Ok) return e;
  pending = SyncReplyMsg{req.n, req.t1, t2_us, 0};
  return CodecError::Ok;
}

size_t sync_reply(SyncReplyMsg& pending, int64_t t3_us, char* buf, size_t cap) {
  pending.t3 = t3_us;
  return encode_sync_reply(pending, buf, cap);
}

}  // namespace quizhub
