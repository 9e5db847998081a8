module github.com/rackwall/rackwall

go 1.26
