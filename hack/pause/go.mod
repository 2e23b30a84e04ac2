module github.com/ecs-operator/hack/pause

go 1.26
