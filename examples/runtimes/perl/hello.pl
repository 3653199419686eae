# A Perl function for the example `perl` runtime kind: entry `hello.main`.
sub main {
    my ($context, $input) = @_;
    my $name = ($input && $input->{name}) || 'World';
    print "Hello from the log, $name\n";
    return { greeting => "Hello, $name", execution_id => $context->{execution_id} };
}
