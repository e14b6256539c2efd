/* O_NONBLOCK on a stdin pipe that is open but empty: read must fail with EAGAIN. */
#include <stdio.h>
#include <fcntl.h>
#include <errno.h>
#include <unistd.h>
int main(){ fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK); char b[8]; int r = read(0, b, 8);
 printf("read=%d errno=%s\n", r, r < 0 && errno == EAGAIN ? "EAGAIN" : "other"); return 0; }
