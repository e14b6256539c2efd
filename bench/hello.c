/* hello: end-to-end start-up cost (spawn, run, exit). */
#include <stdio.h>

int main(void)
{
	printf("hello, world\n");
	return 0;
}
