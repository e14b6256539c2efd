/*
 * true: exits 0 at once. The program fork_exec execs (built like every
 * bench program: gcc -static -O2, a static glibc binary).
 */
int main(void)
{
	return 0;
}
