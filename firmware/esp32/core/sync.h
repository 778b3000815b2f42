// Clock-sync echo (DESIGN §4). The hub sends {"n","t1"}; the device answers at once with t2 = its clock when the
// message was received and t3 = its clock when the reply is sent. The hub computes offset and round trip from
// (t1,t2,t3,t4); the device keeps no model. Accuracy depends on t2 being taken as early as possible (the shell
// stamps it in the transport's receive callback, before any parsing) and t3 as late as possible (the core reads
// the clock immediately before handing the reply to the transport).
#pragma once

#include <cstddef>
#include <cstdint>

#include "codec.h"

namespace quizhub {

/// Decodes a sync request received at t2_us. On success pending holds n, t1, t2 (t3 still 0).
CodecError sync_receive(const char* payload, size_t len, int64_t t2_us, SyncReplyMsg& pending);

/// Stamps t3 and encodes the reply into buf. Returns the length, 0 if buf is too small.
size_t sync_reply(SyncReplyMsg& pending, int64_t t3_us, char* buf, size_t cap);

}  // namespace quizhub
