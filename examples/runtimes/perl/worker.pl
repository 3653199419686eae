#!/usr/bin/perl
# A Ridge worker for Perl functions: an example of a custom runtime kind, declared only in the
# server's configuration file (see README.md beside this file and docs/runtime-protocol.md).
#
# Conventions of this kind:
# - entry `module.function` (default `main.main`): the file `module.pl` in the package (a dotted
#   module `lib.handler` is `lib/handler.pl`) is loaded once; it defines `sub function` in
#   package main (no `package` statement);
# - the function is called as `function($context, $input)`: $context is a hash reference with
#   execution_id, function_id and function_version; $input is the decoded JSON input (a hash
#   reference for an object), or undef when there is none;
# - what it returns (a scalar, or a hash or array reference) is the output; `die` fails the
#   execution with the message;
# - anything printed to STDOUT or STDERR, also by child processes, is the execution's log.
#
# Only core Perl modules are used (JSON::PP ships with perl).

package Ridge::Worker;

use strict;
use warnings;

use Fcntl qw(F_SETFD FD_CLOEXEC);
use JSON::PP ();
use POSIX ();

my $json = JSON::PP->new->utf8->allow_nonref->allow_blessed->convert_blessed;
my $max_frame = 64 * 1024 * 1024;
my ($in, $out);

sub fatal {
    my ($text) = @_;
    print STDERR "ridge-worker: $text\n";
    eval { write_frame({ type => 'fatal', message => $text }) };
    POSIX::_exit(1);
}

sub read_exact {
    my ($n) = @_;
    my $buf = '';
    while (length($buf) < $n) {
        my $got = sysread($in, $buf, $n - length($buf), length($buf));
        fatal("cannot read a frame: $!") unless defined $got;
        return undef if $got == 0;
    }
    return $buf;
}

# The next frame as a hash reference, or undef when Ridge closed the pipe.
sub read_frame {
    my $header = read_exact(4);
    return undef unless defined $header;
    my $size = unpack('N', $header);
    fatal("protocol error: a frame of $size bytes exceeds $max_frame") if $size > $max_frame;
    my $body = read_exact($size);
    fatal('protocol error: the pipe closed in the middle of a frame') unless defined $body;
    my $frame = eval { $json->decode($body) };
    fatal('protocol error: a frame is not a JSON object') unless ref($frame) eq 'HASH';
    return $frame;
}

sub write_bytes {
    my ($body) = @_;
    my $data = pack('N', length $body) . $body;
    my $offset = 0;
    while ($offset < length $data) {
        my $written = syswrite($out, $data, length($data) - $offset, $offset);
        die "cannot write a frame: $!\n" unless defined $written;
        $offset += $written;
    }
}

sub write_frame { write_bytes($json->encode($_[0])) }

sub message {
    my ($error) = @_;
    my $text = "$error";
    $text =~ s/ at \S+ line \d+\.?\n\z//;
    chomp $text;
    return length($text) ? $text : 'Died';
}

sub kill_strays {
    my ($init) = @_;
    return unless $init->{kill_strays};
    # Alone in its PID namespace: every other process is one the function started.
    kill 'KILL', -1;
    1 while waitpid(-1, 0) > 0;
}

# `do` compiles the file in the caller's package: main, where the function's subs must land.
sub load_file {
    package main;
    do $_[0];
}

sub load {
    my ($init) = @_;
    my $file = join('/', $init->{package_dir}, split(/\./, $init->{module})) . '.pl';
    die "module `$init->{module}` not found: no file $file\n" unless -f $file;
    load_file($file);
    die $@ if $@;
    no strict 'refs';
    my $name = "main::$init->{function}";
    die "entry `$init->{entry}` is not a function: $file defines no sub $init->{function}\n"
        unless defined &{$name};
    return \&{$name};
}

sub invoke {
    my ($init, $function, $request) = @_;
    my $context = {
        execution_id     => $request->{execution_id},
        function_id      => $init->{function_id},
        function_version => $init->{function_version},
    };
    my $input = $request->{input};
    my $argument = !defined $input ? undef
                 : exists $input->{kwargs} ? $input->{kwargs}
                 : $input->{arg};
    my $output = eval { scalar $function->($context, $argument) };
    my $error = $@;
    kill_strays($init);
    # Every reply echoes the id of its request: Ridge refuses frames the function forges.
    my $id = $request->{id};
    return $json->encode({ type => 'raised', id => $id, message => message($error),
        traceback => "$error" }) if $error;
    my $body = eval { $json->encode({ type => 'returned', id => $id, output => $output }) };
    return $json->encode({ type => 'raised', id => $id,
        message => 'function output is not JSON serializable: ' . message($@), traceback => '' })
        unless defined $body;
    return $body;
}

sub serve {
    my $fd_in = delete $ENV{RIDGE_FD_IN};
    my $fd_out = delete $ENV{RIDGE_FD_OUT};
    open($in, '<&=', $fd_in) or fatal("cannot open RIDGE_FD_IN: $!");
    open($out, '>&=', $fd_out) or fatal("cannot open RIDGE_FD_OUT: $!");
    binmode $in;
    binmode $out;
    # Processes the function starts must not get the protocol's descriptors.
    fcntl($in, F_SETFD, FD_CLOEXEC);
    fcntl($out, F_SETFD, FD_CLOEXEC);
    # Unbuffered: everything is in the output pipe before the reply.
    STDOUT->autoflush(1);
    STDERR->autoflush(1);

    my $init = read_frame() or return;
    fatal('protocol error: expected an init frame') unless $init->{type} eq 'init';
    $max_frame = $init->{max_frame};
    my $id = $init->{id};
    write_frame({ type => 'loading', id => $id });
    my $function = eval { load($init) };
    if (!$function) {
        write_frame({ type => 'load_error', id => $id, message => message($@), traceback => "$@" });
        return;
    }
    write_frame({ type => 'ready', id => $id, runtime => sprintf('perl %vd', $^V) });
    while (my $request = read_frame()) {
        fatal("protocol error: unexpected frame type $request->{type}")
            unless $request->{type} eq 'invoke';
        write_bytes(invoke($init, $function, $request));
    }
}

serve();
# Not exit: nothing the function left behind (END blocks, destructors) runs after the last reply.
POSIX::_exit(0);
