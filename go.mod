module github.com/armap/armap

go 1.26.8

require (
	github.com/dlclark/regexp2 v1.12.0
	golang.org/x/text v0.44.0
)

require go.yaml.in/yaml/v3 v3.0.4 // indirect
