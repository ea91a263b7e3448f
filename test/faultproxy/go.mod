module kclient.io/test/faultproxy

go 1.24.0
