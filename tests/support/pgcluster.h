/* tests/support/pgcluster.h: a private PostgreSQL 15 cluster for one test: initdb into a temporary
 * directory owned by the `postgres` user (the server refuses to run as root; when the test itself
 * is not root, it runs the tools directly), pg_ctl on a free port on 127.0.0.1 (socket in the same
 * directory, fsync off, trust authentication), createdb kbox, and pg_ctl stop + rm -rf at the end.
 * Tests skip with a message when /usr/lib/postgresql/15/bin/initdb is absent (Debian's
 * postgresql-15, listed in scripts/packages/index.txt). Used by tests/index/test_pg.c and
 * tests/web/test_pg_nodes.c. */
#ifndef KB_TESTS_PGCLUSTER_H
#define KB_TESTS_PGCLUSTER_H

#include <stdbool.h>

#define PGCLUSTER_BIN "/usr/lib/postgresql/15/bin"
#define PGCLUSTER_SKIP 1

struct pgcluster {
    char dir[256];  /* the temporary directory: data/, the socket and log */
    int port;       /* on 127.0.0.1 */
    char url[512];  /* postgresql://postgres@127.0.0.1:<port>/kbox */
    bool running;
};

/* 0 when the cluster runs with database kbox; PGCLUSTER_SKIP when PostgreSQL 15 is not installed
 * (a message says so); -1 on failure (the tools' output is printed). */
int pgcluster_start(struct pgcluster *c);
int pgcluster_stop(struct pgcluster *c);   /* pg_ctl stop -m fast; the data stays */
int pgcluster_resume(struct pgcluster *c); /* starts the stopped cluster again on its port */
/* Runs one SQL command with psql against database kbox; 0 when it succeeded. */
int pgcluster_sql(struct pgcluster *c, const char *sql);
void pgcluster_destroy(struct pgcluster *c); /* stops it and removes the directory */

#endif
