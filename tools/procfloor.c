/* From the project's shared measuring aids (shared/tools/procfloor.c); built and run by bench/. */
/* C floor for /proc scanning: no parsing, just syscalls.
   modes: listdir only; open+read+close /proc/PID/stat; stat+status+cmdline;
   pread on pre-opened stat fds (fd cache); the scan's CPU window re-read of
   stat+io+schedstat, opened each time or pread on kept fds; the quick scan's
   other files (readlink cwd, list fd/ and readlink each fd, read cgroup).
   Prints per-rep seconds (median of REPS). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>
#include <time.h>
#include <ctype.h>

static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
static int pids[200000]; static int npids;
static char buf[65536];

static void listpids(void){
  DIR*d=opendir("/proc"); struct dirent*e; npids=0;
  while((e=readdir(d))){ if(isdigit((unsigned char)e->d_name[0])) pids[npids++]=atoi(e->d_name);} closedir(d);
}
static long readfile(int pid,const char*name){
  char p[64]; snprintf(p,sizeof p,"/proc/%d/%s",pid,name);
  int fd=open(p,O_RDONLY|O_CLOEXEC); if(fd<0) return 0;
  long n=read(fd,buf,sizeof buf); close(fd); return n;
}
static int openfile(int pid,const char*name){
  char p[64]; snprintf(p,sizeof p,"/proc/%d/%s",pid,name); return open(p,O_RDONLY|O_CLOEXEC);
}
static long observed(int pid){
  char p[64]; long n=0; snprintf(p,sizeof p,"/proc/%d",pid);
  int dfd=open(p,O_PATH|O_DIRECTORY|O_CLOEXEC); if(dfd<0) return 0;
  n+=readlinkat(dfd,"cwd",buf,sizeof buf);
  int fdd=openat(dfd,"fd",O_RDONLY|O_DIRECTORY|O_CLOEXEC);
  DIR*d=fdd>=0?fdopendir(fdd):NULL; struct dirent*e;
  if(d){ while((e=readdir(d))) if(e->d_name[0]!='.') n+=readlinkat(fdd,e->d_name,buf,64); closedir(d);}
  int fd=openat(dfd,"cgroup",O_RDONLY|O_CLOEXEC); if(fd>=0){n+=read(fd,buf,sizeof buf);close(fd);}
  close(dfd); return n;
}
int main(int argc,char**argv){
  int reps=argc>1?atoi(argv[1]):21; double t[1000]; long sink=0;
  const char* modes[]={"listdir","stat","stat+status+cmdline","listdir+stat","pread_cached_stat",
                      "window_open","window_pread","observed"};
  listpids();
  int *fds=malloc(sizeof(int)*npids), *wfds=malloc(sizeof(int)*npids*2);
  for(int i=0;i<npids;i++){char p[64];snprintf(p,sizeof p,"/proc/%d/stat",pids[i]);fds[i]=open(p,O_RDONLY|O_CLOEXEC);}
  for(int i=0;i<npids;i++){wfds[2*i]=openfile(pids[i],"io");wfds[2*i+1]=openfile(pids[i],"schedstat");}
  for(int m=0;m<8;m++){
    for(int r=0;r<reps;r++){
      double t0=now();
      if(m==0) listpids();
      else if(m==1) for(int i=0;i<npids;i++) sink+=readfile(pids[i],"stat");
      else if(m==2) for(int i=0;i<npids;i++){sink+=readfile(pids[i],"stat");sink+=readfile(pids[i],"status");sink+=readfile(pids[i],"cmdline");}
      else if(m==3){ listpids(); for(int i=0;i<npids;i++) sink+=readfile(pids[i],"stat"); }
      else if(m==4){ for(int i=0;i<npids;i++) if(fds[i]>=0) sink+=pread(fds[i],buf,sizeof buf,0); }
      else if(m==5) for(int i=0;i<npids;i++){sink+=readfile(pids[i],"stat");sink+=readfile(pids[i],"io");
                                             sink+=readfile(pids[i],"schedstat");}
      else if(m==6) for(int i=0;i<npids;i++){if(fds[i]>=0) sink+=pread(fds[i],buf,sizeof buf,0);
                                             for(int k=0;k<2;k++) if(wfds[2*i+k]>=0) sink+=pread(wfds[2*i+k],buf,sizeof buf,0);}
      else if(m==7) for(int i=0;i<npids;i++) sink+=observed(pids[i]);
      t[r]=now()-t0;
    }
    qsort(t,reps,sizeof(double),cmp);
    printf("{\"mode\":\"%s\",\"nproc\":%d,\"min\":%.9f,\"median\":%.9f,\"max\":%.9f,\"reps\":%d}\n",
           modes[m],npids,t[0],t[reps/2],t[reps-1],reps);
  }
  fprintf(stderr,"sink=%ld\n",sink);
  return 0;
}
