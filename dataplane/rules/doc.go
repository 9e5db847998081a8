// Package rules is the filter's rules language: a small, pf.conf-like text an
// admin can read aloud, parsed into a RuleSet and written back in one
// canonical form.
//
// # Example
//
//	# comment
//	set default block
//	table <web> { 10.77.0.21, 10.77.0.22, fd77::/64 }
//	pass in proto tcp from any to <web> port { 80, 443, 5201 }
//	pass in proto icmp
//	pass in proto ipv6-icmp
//	block in quick from 203.0.113.0/24
//	pass out all
//
// # Statements
//
// One statement per line; inside braces a list may span lines, and a line
// ending in a backslash continues on the next. '#' starts a comment.
//
//	set default pass|block
//	table <name> { address-or-prefix, ... }
//	pass|block [in|out] [log] [quick] [inet|inet6] [proto P]
//	    [all | [from HOSTS [port PORTS]] [to HOSTS [port PORTS]]]
//	    [icmp-type T | icmp6-type T] [vlan N]
//
// The words after the action (in, out, log, quick) may come in any order.
// Lists are written { a, b, c }; the commas are optional.
//
//   - Direction: in is a packet travelling from the uplink toward the rack, out
//     from the rack toward the uplink; without one the rule matches both.
//   - inet / inet6 limit the rule to IPv4 or IPv6.
//   - proto: tcp, udp, icmp, ipv6-icmp (alias icmp6), sctp, gre, esp, ah, a
//     number 0-255, or a list of those.
//   - HOSTS: any, an address, a prefix (10.0.0.0/8, fd77::/64), a table
//     reference <name>, or a list of those. '!' before an item negates it, and
//     '!' before a list negates every item in it. A host list matches an
//     address when at least one plain item matches it (or the list has no
//     plain items) and no negated item does, so
//     { 10.0.0.0/8, !10.9.0.0/16 } is "10/8 except 10.9/16". A negated item
//     also matches addresses of the other family: "from !10.0.0.0/8" matches
//     every IPv6 source.
//   - PORTS: a number, a range lo:hi (both ends included) or a list; ports
//     need proto tcp or udp (or a list of only those). Port names are not
//     accepted: write the number.
//   - icmp-type needs proto icmp, icmp6-type needs proto ipv6-icmp; the type
//     is a number or a name (echoreq, echorep, unreach, timex, toobig, ...).
//   - vlan N (1-4094) matches frames whose innermost VLAN tag has that ID;
//     untagged frames never match a vlan rule.
//   - Tables must be defined before the rules that use them; a reference to
//     an unknown table is an error at the reference.
//
// # Semantics: quick rules first, then first match
//
// Rules marked quick are checked first, in file order; then all other
// rules, in file order. The first rule that matches decides: pass lets the
// packet through, block drops it, and nothing after it is looked at.
//
// In the example above the rules are checked in this order:
//
//	block in quick from 203.0.113.0/24                          (quick)
//	pass in proto tcp from any to <web> port { 80, 443, 5201 }
//	pass in proto icmp
//	pass in proto ipv6-icmp
//	pass out all
//
// so a connection from 203.0.113.7 to a web host's port 80 is blocked, as
// the file reads aloud, although the pass rule for port 80 is written
// above the block. Without quick that block would come too late: the pass
// rule matches first and decides.
//
// Compared with pf: when some quick rule matches, both decide by the first
// matching quick rule (pf stops at it, and a quick rule written lower
// overrides non-quick matches above it there too), so a file whose rules
// are all quick means the same in both. The difference is among the rules
// without quick: pf reads them all and the LAST one that matches decides;
// rackwall stops at the FIRST. A pf file that opens with "block all" and
// lists passes below it must be turned around here: write
// "set default block" instead of the opening block, or put the specific
// rules first.
//
// Moving a rule in or out of quick changes its place in the order, never
// anything else; the canonical text keeps the word, so what was written is
// what is shown.
//
// If no rule matches, the default policy decides: block with
// "set default block", otherwise pass. A box with no rules at all therefore
// passes everything.
//
// Rules decide whether a connection may START. The filter tracks every
// connection a rule (or the default policy) passed, and replies and later
// packets of that connection pass without consulting the rules again; see
// package filter for the connection-tracking details.
//
// # Errors and canonical text
//
// Parse stops at the first problem and returns a *SyntaxError naming its
// line and column and what was expected there. RuleSet.String writes the
// canonical text: a "set default" line first, then the tables, then the
// rules; one space between words, the parts of a rule in the order of the
// grammar above, lists in braces, and "all" when both sides are any. Parsing
// the canonical text gives back an equal RuleSet.
package rules
