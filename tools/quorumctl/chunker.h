/*
 * chunker.h — splitting an RFC 1035 master file into import chunks.
 *
 * The import endpoint takes one body of at most 64 MiB, so a big zone goes up
 * as several chunks of about N records each.  A chunk ends only at a record
 * boundary: an entry continued over lines by parentheses, a quoted string
 * holding ';' or '(' and a comment holding quotes all stay whole.  Each
 * chunk must mean on its own what its lines meant in the file, so every chunk
 * after the first starts with the state the file had built up by then:
 *
 *   - "$ORIGIN <absolute origin>" (relative $ORIGIN lines resolved), and
 *     "$TTL <value>" once the file has set one;
 *   - a first record with a blank owner gets the previous record's owner,
 *     written absolute (the origin may have changed since);
 *   - without $TTL, a first record without TTL gets the last explicit TTL
 *     (the loader gives TTL-less records the previous record's TTL).
 *
 * The added state sits on header lines before the file's text, and the file's
 * text is copied unchanged otherwise, so line L of a chunk is line
 * first_line + L - 1 - header_lines of the file.  The first chunk has no
 * header: its lines are the file's.  A chunk is not ended inside a run of
 * records of one owner and type, so that an RRset is not split over two
 * imports (unless the run alone passes the byte limit).  $INCLUDE is refused:
 * the file it names is on this machine, not on the server.
 *
 * The chunker works on a borrowed buffer (the caller maps or reads the file)
 * and does no I/O.
 */
#ifndef QUORUMCTL_CHUNKER_H
#define QUORUMCTL_CHUNKER_H

#include <stdbool.h>
#include <stddef.h>

#define QUORUMCTL_CHUNK_RECORDS   20000
#define QUORUMCTL_CHUNK_MAX_BYTES (48u << 20) /* under the API's 64 MiB */

struct quorumctl_chunker {
        const char *text; /* borrowed */
        size_t len;
        size_t pos;    /* next entry starts here */
        unsigned line; /* line number at pos, from 1 */
        size_t max_records, max_bytes;
        size_t chunks;  /* chunks returned so far */
        char *origin;   /* owned: $ORIGIN in effect, absolute */
        char *ttl;      /* owned: last $TTL value, NULL before one */
        char *last_ttl; /* owned: last explicit record TTL, NULL before one */
        char *owner;    /* owned: absolute owner of the last record, NULL before one */
        char *type;     /* owned: upper-case type of the last record */
        unsigned error_line;
        char error[256];
};

struct quorumctl_chunk {
        char *text; /* owned: NUL-terminated */
        size_t len;
        size_t records;
        unsigned first_line, last_line; /* lines of the file it holds */
        unsigned header_lines;          /* lines added before them */
};

/*
 * zone is the zone's name (the initial origin; a final dot is added).
 * max_records 0 means QUORUMCTL_CHUNK_RECORDS; max_bytes 0 means
 * QUORUMCTL_CHUNK_MAX_BYTES.  Returns 0 or -ENOMEM.
 */
int quorumctl_chunker_init(struct quorumctl_chunker *ch, const char *text, size_t len,
                           const char *zone, size_t max_records, size_t max_bytes);
void quorumctl_chunker_free(struct quorumctl_chunker *ch);

/*
 * Produces the next chunk into *chunk (free with quorumctl_chunk_free).
 * Returns 1 for a chunk, 0 at the end (a file without records gives one
 * chunk, so that an import with replace still happens), -EINVAL for a
 * syntax error (error_line and error say where and what), -ENOMEM.
 */
int quorumctl_chunker_next(struct quorumctl_chunker *ch, struct quorumctl_chunk *chunk);

void quorumctl_chunk_free(struct quorumctl_chunk *chunk);

/*
 * Counts the records of a whole file and checks its syntax the way
 * quorumctl_chunker_next would, without building chunks: run it first so
 * that a syntax error is reported before anything is sent.  Returns 0,
 * -EINVAL (error_line and error of the scratch chunker are copied to
 * *error_line / err) or -ENOMEM.
 */
int quorumctl_chunker_count(const char *text, size_t len, const char *zone,
                            size_t *records, unsigned *error_line, char *err,
                            size_t errlen);

#endif
