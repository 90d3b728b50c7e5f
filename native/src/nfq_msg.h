// nfnetlink_queue messages: building config/verdict requests and parsing queued packets.
#ifndef NETPOL_NFQ_MSG_H
#define NETPOL_NFQ_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <linux/netlink.h>

// Bytes one verdict message takes (header, nfgenmsg, verdict header, mark).
#define NFQ_VERDICT_MSG_MAX 64
#define NFQ_NO_MARK 0xffffffffu

typedef struct {
  uint32_t id, hw_protocol, hook, indev, outdev, physindev, physoutdev, mark, wirelen;
  const uint8_t* payload;
  uint32_t caplen;
} nfq_packet;

// Each returns the message length written at `buf` (which must hold 256 bytes).
size_t nfq_put_bind(void* buf, uint32_t seq, uint16_t queue, uint8_t command);
size_t nfq_put_params(void* buf, uint32_t seq, uint16_t queue, uint32_t copy_range, uint32_t maxlen, uint32_t flags);
// One verdict (batch = NFQNL_MSG_VERDICT_BATCH: applies to every queued id <= id).
size_t nfq_put_verdict(void* buf, uint16_t queue, uint32_t id, uint32_t verdict, uint32_t mark, int batch);

// Message kinds nfq_classify reports.
enum { NFQ_MSG_OTHER = 0, NFQ_MSG_PACKET = 1, NFQ_MSG_ERROR = 2 };
// Classifies one message; for NFQ_MSG_PACKET fills *pkt (false-y `ok` on malformed), for
// NFQ_MSG_ERROR sets *err to the positive errno (0 for an ack) and *seq.
int nfq_classify(const struct nlmsghdr* nlh, nfq_packet* pkt, int* ok, int* err, uint32_t* seq);

#endif
