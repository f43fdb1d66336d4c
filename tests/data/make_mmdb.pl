#!/usr/bin/perl
# make_mmdb.pl — writes a small, exact .mmdb file for the tests with
# Debian's libmaxmind-db-writer-perl.  Reads a JSON description on stdin:
#   {"schema": "geoip2" | "flat", "ip_version": 4 | 6, "type": "...",
#    "alias_ipv6_to_ipv4": true | false (MaxMind's ::ffff:0:0/96 and
#    2002::/16 aliases of the IPv4 tree),
#    "networks": [{"network": "81.2.69.0/24", "continent": "EU",
#                  "country": "GB", "subdivision": "ENG", "state1": "England",
#                  "latitude": 51.4, "longitude": -0.76}, ...]}
# geoip2 records carry continent.code, country.iso_code and
# subdivisions[0].iso_code as MaxMind's GeoIP2/GeoLite2 do; flat records
# carry country_code, state1, latitude and longitude as the ip-location-db
# packages do.  Usage: make_mmdb.pl OUT.mmdb < description.json
use strict;
use warnings;
use JSON::PP;
use MaxMind::DB::Writer::Tree;

my $out = shift or die "usage: make_mmdb.pl OUT.mmdb < description.json\n";
my $spec = decode_json(do { local $/; <STDIN> });
my $schema = $spec->{schema} // 'geoip2';
my %types = (
    continent => 'map', country => 'map', subdivisions => ['array', 'map'],
    location => 'map', code => 'utf8_string', iso_code => 'utf8_string',
    country_code => 'utf8_string', state1 => 'utf8_string', city => 'utf8_string',
    latitude => 'double', longitude => 'double', names => 'map', en => 'utf8_string',
);
my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version => $spec->{ip_version} // 6,
    record_size => 24,
    database_type => $spec->{type} // 'QDNS-Test',
    languages => ['en'],
    description => { en => 'quorumdns test database' },
    remove_reserved_networks => 0,
    alias_ipv6_to_ipv4 => $spec->{alias_ipv6_to_ipv4} ? 1 : 0,
    map_key_type_callback => sub { $types{ $_[0] } // die "no type for $_[0]\n" },
);
for my $n (@{ $spec->{networks} }) {
    my %r;
    if ($schema eq 'flat') {
        $r{country_code} = $n->{country} if defined $n->{country};
        $r{state1} = $n->{state1} if defined $n->{state1};
        $r{latitude} = $n->{latitude} + 0 if defined $n->{latitude};
        $r{longitude} = $n->{longitude} + 0 if defined $n->{longitude};
    } else {
        $r{continent} = { code => $n->{continent} } if defined $n->{continent};
        $r{country} = { iso_code => $n->{country} } if defined $n->{country};
        $r{subdivisions} = [ { iso_code => $n->{subdivision} } ]
            if defined $n->{subdivision};
        $r{location} = { latitude => $n->{latitude} + 0, longitude => $n->{longitude} + 0 }
            if defined $n->{latitude};
    }
    $tree->insert_network($n->{network}, \%r);
}
open(my $fh, '>:raw', $out) or die "$out: $!\n";
$tree->write_tree($fh);
close($fh) or die "$out: $!\n";
