/*
 * lz4frame.h — snapshots as LZ4 frames, compressed while they are packed.
 *
 * raft 0.15 reads a snapshot file that starts with the LZ4 frame magic as
 * an LZ4 frame with its content size in the header, and hands the state
 * machine the decompressed bytes (uvSnapshotLoadData).  Left to compress
 * itself, it takes the whole encoding as one buffer (~800 MB at 1.2 M
 * zones: fresh pages, written once and read once, cold) and compresses it
 * into another.  So the encoder compresses as it packs instead: the packer
 * fills a small buffer that stays in the cache, each full buffer is
 * compressed onto the output, and raft writes the frame as it is (its own
 * compression is off for frames: replica.c's snapshot_put_framed).  The
 * bytes inside are the encoding cs_snapshot_encode gives, unchanged.
 *
 * The content size goes in the frame header, which LZ4 writes before the
 * first block, when the size is not known yet: the frame is begun without
 * it, 8 bytes into the output (the 8 bytes a content size takes), and once
 * the frame ends its header is written again, with the size, over those 8
 * bytes and the old header, so that the blocks follow it unmoved.
 *
 * The one module that includes liblz4's header.
 */
#ifndef CONSENSUS_LZ4FRAME_H
#define CONSENSUS_LZ4FRAME_H

#include <stdbool.h>
#include <stddef.h>

struct cs_lz4_writer;

/* A writer whose output starts with room for about `hint` bytes (the last
 * frame's size; 0: a small start).  NULL without memory. */
struct cs_lz4_writer *cs_lz4_writer_new(size_t hint);

/* Appends bytes to the frame's content (msgpack's write callback: data is
 * the writer).  0, or -1 once the writer failed (then every later call). */
int cs_lz4_write(void *writer, const char *buf, size_t len);

/*
 * Pieces of a frame that a later frame can take as they are: cs_lz4_cut
 * compresses what is buffered into whole blocks and returns the output's
 * length (SIZE_MAX once the writer failed); the blocks written between two
 * cuts are at cs_lz4_output(w, first cut) until the next write, and
 * cs_lz4_put_blocks appends such blocks to another frame (after a cut;
 * `content`: the bytes they decompress to).  cs_lz4_blocks_decode
 * decompresses blocks of ours to `write` (0, -EBADMSG, -ENOMEM, or what
 * write returned as -ENOMEM).
 */
size_t cs_lz4_cut(struct cs_lz4_writer *w);
const void *cs_lz4_output(const struct cs_lz4_writer *w, size_t at);
int cs_lz4_put_blocks(struct cs_lz4_writer *w, const void *blocks, size_t len,
                      size_t content);
int cs_lz4_blocks_decode(const void *blocks, size_t len,
                         int (*write)(void *data, const char *buf, size_t len),
                         void *data);

/* Ends the frame and frees the writer: *out (malloc'ed) and *out_len, and
 * 0; or -ENOMEM/-EIO (a failed write before included, or nothing written),
 * with the writer freed and nothing returned.  Nothing follows the frame:
 * `lz4 -d` reads what comes after a frame as the next one. */
int cs_lz4_writer_finish(struct cs_lz4_writer *w, void **out, size_t *out_len);

/* Frees a writer without finishing it (NULL: nothing). */
void cs_lz4_writer_free(struct cs_lz4_writer *w);

/* Whether the bytes start with the LZ4 frame magic.  A snapshot's msgpack
 * starts with an array, never with it. */
bool cs_lz4_is_frame(const void *buf, size_t len);

/* Decompresses one frame that carries its content size, of at most what
 * LZ4 can expand `len` bytes to, and nothing after it; *out is malloc'ed.
 * 0, or -EBADMSG with a reason in err (not a frame, no content size, a bad
 * block or checksum, a size that does not match, bytes after the frame)
 * or -ENOMEM. */
int cs_lz4_decode(const void *buf, size_t len, void **out, size_t *out_len, char *err,
                  size_t errlen);

#endif
