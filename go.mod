module github.com/armap/armap

go 1.26.8
